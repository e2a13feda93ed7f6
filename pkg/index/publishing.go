package index

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DelayBounds are the upper bounds of the buckets of the issued → indexed delay histogram
// (bucket b, column DelayColumn(b) of publishing_rollup, counts delays below DelayBounds[b];
// bucket len(DelayBounds) counts the rest). Migration 0011 has a column per bucket: changing the
// bounds needs a migration. A delay below zero (issued after indexing: a clock ahead) falls in bucket 0.
var DelayBounds = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour,
	16 * time.Hour, 20 * time.Hour, 24 * time.Hour, 36 * time.Hour, 48 * time.Hour, 72 * time.Hour,
	5 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour,
	365 * 24 * time.Hour,
}

// DelayColumn is the publishing_rollup column of delay bucket b.
func DelayColumn(b int) string { return fmt.Sprintf("delay_b%02d", b) }

// DelayBucket is the histogram bucket of a delay.
func DelayBucket(d time.Duration) int {
	return sort.Search(len(DelayBounds), func(i int) bool { return d < DelayBounds[i] })
}

// What the reports transaction did with one entry, for the publishing figures.
const (
	entryNew       = "new"
	entryVersion   = "version"
	entryWithdrawn = "withdrawn"
	entryHistory   = "history"
	entryUnchanged = "unchanged"
)

// publishingZone is the zone of the days of the publishing figures (China time, as every figure).
var publishingZone = time.FixedZone("CST", 8*3600)

type pubKey struct {
	inst string
	part int
}

type pubRow struct {
	received, indexed, dead, reports, newR, amended, withdrawn, unchanged, unmapped, delayN, within24 int64
	refusals                                                                                          map[string]int64
	unmappedCodes                                                                                     map[[2]string]int64
	delays                                                                                            map[int]int64
}

// recordPublishing adds the messages of b not counted before (offset at or past their
// partition's publishing mark) to the publishing rollups and moves the marks. entries are the
// batch's entries applied in this transaction, with what happened to each (kinds), and dls its
// dead letters applied in it; messages this consumer had already applied are in neither, so a
// message is only counted by the transaction that applies it.
func recordPublishing(ctx context.Context, tx pgx.Tx, b *Batch, entries []*Entry, kinds map[*Entry]string, dls []DeadLetter) error {
	if len(entries) == 0 && len(dls) == 0 {
		return nil
	}
	// Lock the marks of the batch's partitions (sorted, so concurrent writers do not deadlock).
	type tp struct {
		topic string
		part  int
	}
	seen := map[tp]int64{}
	var parts []tp
	for _, p := range b.Positions {
		k := tp{p.Topic, p.Partition}
		if _, ok := seen[k]; !ok {
			seen[k] = -1
			parts = append(parts, k)
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].topic != parts[j].topic {
			return parts[i].topic < parts[j].topic
		}
		return parts[i].part < parts[j].part
	})
	topics, ps := make([]string, len(parts)), make([]int32, len(parts))
	for i, p := range parts {
		topics[i], ps[i] = p.topic, int32(p.part)
	}
	// One statement creates the missing marks and locks them all (ON CONFLICT DO UPDATE locks the
	// existing row and returns it).
	rows, err := tx.Query(ctx, `INSERT INTO publishing_marks AS m (topic, partition, next_offset)
		SELECT t, p, 0 FROM unnest($1::text[], $2::int[]) AS x(t, p) ORDER BY t, p
		ON CONFLICT (topic, partition) DO UPDATE SET next_offset = m.next_offset
		RETURNING m.topic, m.partition, m.next_offset`, topics, ps)
	if err != nil {
		return fmt.Errorf("locking publishing marks: %w", err)
	}
	for rows.Next() {
		var k tp
		var next int64
		if err := rows.Scan(&k.topic, &k.part, &next); err != nil {
			rows.Close()
			return err
		}
		seen[k] = next
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("locking publishing marks: %w", err)
	}
	counted := func(p Position) bool { return p.Offset >= seen[tp{p.Topic, p.Partition}] }

	now := time.Now()
	agg := map[pubKey]*pubRow{}
	row := func(inst string, part int) *pubRow {
		k := pubKey{inst, part}
		r := agg[k]
		if r == nil {
			r = &pubRow{refusals: map[string]int64{}, unmappedCodes: map[[2]string]int64{}, delays: map[int]int64{}}
			agg[k] = r
		}
		return r
	}
	msgDone := map[Position]bool{}
	for _, e := range entries {
		if !counted(e.Pos) {
			continue
		}
		r := row(label(e.Source), e.Pos.Partition)
		if !msgDone[e.Pos] {
			msgDone[e.Pos] = true
			r.received++
			r.indexed++
		}
		r.reports++
		kind := kinds[e]
		switch kind {
		case entryNew:
			r.newR++
		case entryVersion:
			r.amended++
		case entryWithdrawn:
			r.withdrawn++
		case entryUnchanged:
			r.unchanged++
		}
		if kind == entryUnchanged {
			continue
		}
		if e.Item == "" && !Withdrawn(e.Status) {
			r.unmapped++
			r.unmappedCodes[[2]string{label(e.CodeSystem), label(e.Code)}]++
		}
		if e.Issued != nil {
			d := now.Sub(*e.Issued)
			r.delayN++
			if d <= 24*time.Hour {
				r.within24++
			}
			r.delays[DelayBucket(d)]++
		}
	}
	for _, d := range dls {
		if !counted(d.Pos) || msgDone[d.Pos] {
			continue
		}
		msgDone[d.Pos] = true
		r := row(label(d.Headers["mrhub-source"]), d.Pos.Partition)
		r.received++
		r.dead++
		r.refusals[label(d.Code)]++
	}
	if len(agg) > 0 {
		if err := writePublishing(ctx, tx, now.In(publishingZone), agg); err != nil {
			return err
		}
	}
	// Move the marks past the batch.
	maxOff := map[tp]int64{}
	for _, p := range b.Positions {
		k := tp{p.Topic, p.Partition}
		if p.Offset+1 > maxOff[k] {
			maxOff[k] = p.Offset + 1
		}
	}
	offs := make([]int64, len(parts))
	for i, p := range parts {
		offs[i] = maxOff[p]
	}
	if _, err := tx.Exec(ctx, `UPDATE publishing_marks m SET next_offset = GREATEST(m.next_offset, x.o)
		FROM unnest($1::text[], $2::int[], $3::bigint[]) AS x(t, p, o) WHERE m.topic = x.t AND m.partition = x.p`, topics, ps, offs); err != nil {
		return fmt.Errorf("moving publishing marks: %w", err)
	}
	return nil
}

// rollupUpsert adds one row's figures to publishing_rollup.
var rollupUpsert = func() string {
	cols := []string{"grain", "period", "institution", "partition", "received", "indexed", "dead_lettered", "reports", "new_reports",
		"amended", "withdrawn", "unchanged", "unmapped", "delay_count", "delay_within_24h"}
	for b := 0; b <= len(DelayBounds); b++ {
		cols = append(cols, DelayColumn(b))
	}
	var vals, sets []string
	for i, c := range cols {
		vals = append(vals, fmt.Sprintf("$%d", i+1))
		if i >= 4 {
			sets = append(sets, c+" = d."+c+" + excluded."+c)
		}
	}
	return "INSERT INTO publishing_rollup AS d (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") +
		") ON CONFLICT (grain, period, institution, partition) DO UPDATE SET " + strings.Join(sets, ", ")
}()

func writePublishing(ctx context.Context, tx pgx.Tx, now time.Time, agg map[pubKey]*pubRow) error {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	keys := make([]pubKey, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].inst != keys[j].inst {
			return keys[i].inst < keys[j].inst
		}
		return keys[i].part < keys[j].part
	})
	bt := &pgx.Batch{}
	for _, g := range []struct {
		grain  string
		period time.Time
	}{{"d", day}, {"m", month}} {
		for _, k := range keys {
			r := agg[k]
			args := []any{g.grain, g.period, k.inst, k.part, r.received, r.indexed, r.dead, r.reports, r.newR, r.amended, r.withdrawn,
				r.unchanged, r.unmapped, r.delayN, r.within24}
			for b := 0; b <= len(DelayBounds); b++ {
				args = append(args, r.delays[b])
			}
			bt.Queue(rollupUpsert, args...)
			for _, c := range sortedKeys(r.refusals) {
				bt.Queue(`INSERT INTO publishing_refusals AS r (grain, period, institution, partition, code, n) VALUES ($1,$2,$3,$4,$5,$6)
					ON CONFLICT (grain, period, institution, partition, code) DO UPDATE SET n = r.n + excluded.n`,
					g.grain, g.period, k.inst, k.part, c, r.refusals[c])
			}
			um := make([][2]string, 0, len(r.unmappedCodes))
			for c := range r.unmappedCodes {
				um = append(um, c)
			}
			sort.Slice(um, func(i, j int) bool {
				if um[i][0] != um[j][0] {
					return um[i][0] < um[j][0]
				}
				return um[i][1] < um[j][1]
			})
			for _, c := range um {
				bt.Queue(`INSERT INTO publishing_unmapped AS u (grain, period, institution, code_system, code, n) VALUES ($1,$2,$3,$4,$5,$6)
					ON CONFLICT (grain, period, institution, code_system, code) DO UPDATE SET n = u.n + excluded.n`,
					g.grain, g.period, k.inst, c[0], c[1], r.unmappedCodes[c])
			}
		}
	}
	if err := tx.SendBatch(ctx, bt).Close(); err != nil {
		return fmt.Errorf("updating the publishing rollups: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// label makes a publisher's string fit a rollup key: valid UTF-8 without NUL (which PostgreSQL
// text refuses), at most 64 bytes. A header is whatever the publisher sent.
func label(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "")
	}
	return s
}
