package catalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/catalog"
	"github.com/mrhub/mrhub/seeds"
)

const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testDB creates a fresh database with the core migration applied and drops it after the test.
// It skips the test when PostgreSQL is unreachable.
func testDB(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serverURL := os.Getenv("MRHUB_TEST_DATABASE_URL")
	if serverURL == "" {
		serverURL = defaultTestDatabaseURL
	}
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Skipf("PostgreSQL unreachable at %s (set MRHUB_TEST_DATABASE_URL): %v", serverURL, err)
	}
	defer admin.Close(context.Background())

	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "mrhub_test_catalog_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer a.Close(ctx)
		if _, err := a.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})

	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connecting to %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	for _, f := range []string{"0001_core.sql", "0012_mrn_systems.sql"} { // the reference tables
		ddl, err := os.ReadFile("../../schemas/migrations/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.PgConn().Exec(ctx, string(ddl)).ReadAll(); err != nil {
			t.Fatalf("applying %s: %v", f, err)
		}
	}
	return conn
}

// dump returns every reference row with its xmin (the transaction that last wrote it).
func dump(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		SELECT 'd ' || xmin::text || ' ' || (d.*)::text FROM districts d
		UNION ALL SELECT 'c ' || xmin::text || ' ' || (c.*)::text FROM communities c
		UNION ALL SELECT 'i ' || xmin::text || ' ' || (i.*)::text FROM institutions i
		UNION ALL SELECT 't ' || xmin::text || ' ' || (t.*)::text FROM items t
		UNION ALL SELECT 'm ' || xmin::text || ' ' || (m.*)::text FROM code_maps m
		UNION ALL SELECT 'q ' || xmin::text || ' ' || (q.*)::text FROM qualifications q
		UNION ALL SELECT 'r ' || xmin::text || ' ' || (r.*)::text FROM decline_reasons r
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUpsertLoad(t *testing.T) {
	conn := testDB(t)
	ctx := context.Background()
	region, err := seeds.Region()
	if err != nil {
		t.Fatal(err)
	}

	if err := catalog.Upsert(ctx, conn, region); err != nil {
		t.Fatalf("first Upsert: %v", err)
	}
	first := dump(t, conn)
	want := len(region.Districts) + len(region.Communities) + len(region.Institutions) + len(region.Items) +
		len(region.CodeMaps) + len(region.Qualifications) + len(region.Reasons)
	if len(first) != want {
		t.Fatalf("%d rows after Upsert, want %d", len(first), want)
	}
	if err := catalog.Upsert(ctx, conn, region); err != nil {
		t.Fatalf("second Upsert: %v", err)
	}
	if second := dump(t, conn); !reflect.DeepEqual(first, second) {
		t.Fatal("second Upsert of the same region rewrote rows (xmin or content changed)")
	}

	// A change is applied, and only the changed row is rewritten.
	changed := *region
	changed.Items = append([]catalog.Item(nil), region.Items...)
	changed.Items[0].PriceCents += 100
	if err := catalog.Upsert(ctx, conn, &changed); err != nil {
		t.Fatalf("Upsert with a changed price: %v", err)
	}
	before := map[string]bool{}
	for _, row := range first {
		before[row] = true
	}
	diff := 0
	for _, row := range dump(t, conn) {
		if !before[row] {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("changing one price rewrote %d rows, want 1", diff)
	}

	// An invalid region is refused before touching the database.
	bad := changed
	bad.Name = ""
	if err := catalog.Upsert(ctx, conn, &bad); err == nil {
		t.Error("Upsert accepted an invalid region")
	}

	loaded, err := catalog.LoadRegion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Validate(); err != nil {
		t.Errorf("loaded region does not validate: %v", err)
	}
	if len(loaded.CodeMaps) != len(region.CodeMaps) || len(loaded.Qualifications) != len(region.Qualifications) ||
		len(loaded.Items) != len(region.Items) || len(loaded.Institutions) != len(region.Institutions) {
		t.Errorf("loaded region has different sizes")
	}
	if loaded.Name != region.Districts[0].Name {
		t.Errorf("loaded region name %q", loaded.Name)
	}

	c, err := catalog.Load(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	ref := catalog.NewCatalog(&changed)
	for _, in := range region.Institutions {
		got, ok := c.Institution(in.RegionCode)
		if !ok || !reflect.DeepEqual(*got, in) {
			t.Errorf("Institution(%s) = %+v, want %+v", in.RegionCode, got, in)
		}
	}
	for _, it := range changed.Items {
		got, ok := c.Item(it.Code)
		if !ok || !reflect.DeepEqual(*got, it) {
			t.Errorf("Item(%s) = %+v, want %+v", it.Code, got, it)
		}
	}
	for _, m := range region.CodeMaps {
		if got, ok := c.MapCode(m.Institution, m.System, m.Code); !ok || got.Code != m.Item {
			t.Errorf("MapCode(%s, %s, %s) = %v, want %s", m.Institution, m.System, m.Code, got, m.Item)
		}
	}
	cst := time.FixedZone("CST", 8*3600)
	for _, at := range []time.Time{
		time.Date(2025, 6, 1, 9, 0, 0, 0, cst), time.Date(2026, 1, 1, 0, 30, 0, 0, cst),
		time.Date(2026, 5, 1, 9, 0, 0, 0, cst), time.Date(2026, 12, 31, 23, 30, 0, 0, cst),
	} {
		for _, m := range region.CodeMaps {
			q1, ok1 := c.Qualified(m.Institution, m.Item, at)
			q2, ok2 := ref.Qualified(m.Institution, m.Item, at)
			if ok1 != ok2 || ok1 && (q1.Scope != q2.Scope || !q1.ValidFrom.Equal(q2.ValidFrom)) {
				t.Fatalf("Qualified(%s, %s, %s): loaded %v %v, from seeds %v %v", m.Institution, m.Item, at, q1, ok1, q2, ok2)
			}
		}
	}
	for _, rs := range region.Reasons {
		if got, ok := c.Reason(rs.Code); !ok || *got != rs {
			t.Errorf("Reason(%d) = %+v", rs.Code, got)
		}
	}
	a, b := region.Communities[0].LeadCode, region.Communities[1].LeadCode
	if c.SameCommunity(a, b) || !c.SameCommunity(a, a) {
		t.Error("SameCommunity wrong after Load")
	}
}
