package index_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mrhub/mrhub/pkg/index"
)

func randEntry(r *rand.Rand) *index.Entry {
	e := &index.Entry{}
	switch r.IntN(4) {
	case 0: // none
	case 1, 2:
		e.MetaVersionID = fmt.Sprint(1 + r.IntN(4))
	case 3:
		e.MetaVersionID = []string{"a", "b", "v2"}[r.IntN(3)]
	}
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if r.IntN(2) == 0 {
		t := base.Add(time.Duration(r.IntN(4)) * time.Hour)
		e.LastUpdated = &t
	}
	if r.IntN(3) > 0 {
		t := base.Add(time.Duration(r.IntN(4)) * time.Hour)
		e.Issued = &t
	}
	e.Status = []string{"preliminary", "final", "amended", "corrected", "appended", "entered-in-error", "cancelled"}[r.IntN(7)]
	// Distinct versions have distinct content, hence distinct hashes (a versionId is content).
	sum := sha256.Sum256(fmt.Appendf(nil, "%d", r.Uint64()))
	e.ContentHash = sum[:4]
	return e
}

// TestCompareRankIsATotalOrder: the index keeps the version that ranks highest, applying
// versions in arrival order. The final state is order-independent only if CompareRank is a
// strict total order: antisymmetric and transitive, whatever criteria each version carries.
func TestCompareRankIsATotalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ranks []string
	for i := 0; i < 150; i++ {
		ranks = append(ranks, randEntry(r).Rank())
	}
	for _, a := range ranks {
		for _, b := range ranks {
			ab, ba := index.CompareRank(a, b), index.CompareRank(b, a)
			if ab != -ba {
				t.Fatalf("not antisymmetric: CompareRank(%q,%q)=%d, reverse %d", a, b, ab, ba)
			}
			if ab == 0 && a != b {
				t.Fatalf("distinct ranks compare equal: %q %q", a, b)
			}
		}
	}
	for _, a := range ranks {
		for _, b := range ranks {
			if index.CompareRank(a, b) >= 0 {
				continue
			}
			for _, c := range ranks {
				if index.CompareRank(b, c) < 0 && index.CompareRank(a, c) >= 0 {
					t.Fatalf("not transitive: %q < %q < %q but CompareRank(a,c) = %d", a, b, c, index.CompareRank(a, c))
				}
			}
		}
	}
}

// TestCompareRankWinnerIsOrderIndependent folds sets of versions in every delivery order the
// way Apply does (replace the current when the newcomer ranks above it).
func TestCompareRankWinnerIsOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 2000; trial++ {
		n := 2 + r.IntN(3)
		var ranks []string
		for i := 0; i < n; i++ {
			ranks = append(ranks, randEntry(r).Rank())
		}
		winner := ""
		for p := 0; p < 6; p++ {
			perm := r.Perm(n)
			cur := ranks[perm[0]]
			for _, i := range perm[1:] {
				if index.CompareRank(ranks[i], cur) > 0 {
					cur = ranks[i]
				}
			}
			if p == 0 {
				winner = cur
			} else if cur != winner {
				t.Fatalf("versions %q: delivery order changes the current version (%q vs %q)", ranks, winner, cur)
			}
		}
	}
}

func TestCompareRankCriteria(t *testing.T) {
	at := func(h int) *time.Time { t := time.Date(2026, 10, 1, h, 0, 0, 0, time.UTC); return &t }
	cases := []struct {
		name string
		a, b index.Entry // want a > b
	}{
		{"versionId numeric", index.Entry{MetaVersionID: "10", Issued: at(1)}, index.Entry{MetaVersionID: "9", Issued: at(5)}},
		{"lastUpdated when versionIds equal", index.Entry{MetaVersionID: "2", LastUpdated: at(3)}, index.Entry{MetaVersionID: "2", LastUpdated: at(2)}},
		{"lastUpdated without versionId", index.Entry{LastUpdated: at(3), Issued: at(1)}, index.Entry{LastUpdated: at(2), Issued: at(5)}},
		{"issued without meta", index.Entry{Issued: at(4)}, index.Entry{Issued: at(3), Status: "corrected"}},
		{"status when times agree", index.Entry{Issued: at(4), Status: "final"}, index.Entry{Issued: at(4), Status: "preliminary"}},
		{"a version carrying a versionId ranks above one without", index.Entry{MetaVersionID: "2", Issued: at(1)}, index.Entry{Issued: at(5)}},
		{"an opaque versionId carries no order", index.Entry{MetaVersionID: "a", Issued: at(5)}, index.Entry{MetaVersionID: "b", Issued: at(1)}},
		{"withdrawal ranks above a final of the same version", index.Entry{MetaVersionID: "2", Status: "entered-in-error"}, index.Entry{MetaVersionID: "2", Status: "final"}},
	}
	for _, c := range cases {
		if got := index.CompareRank(c.a.Rank(), c.b.Rank()); got != 1 {
			t.Errorf("%s: CompareRank = %d, want 1 (%q vs %q)", c.name, got, c.a.Rank(), c.b.Rank())
		}
	}
}
