package db_test

import (
	"context"
	"net"
	"testing"

	"github.com/mrhub/mrhub/pkg/db"
	"github.com/mrhub/mrhub/pkg/testenv"
)

// TestWriteMarks: a write mark is the primary's WAL position after the write, kept per
// institution, and keeps that institution's reads on the primary until a replica has replayed
// it; without replicas (or without a router) marks are no-ops.
func TestWriteMarks(t *testing.T) {
	_, pool := testenv.DB(t)
	ctx := context.Background()
	// A replica that never answers: configured, so marks are kept, but never caught up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, err := db.NewRouter(ctx, pool, []string{"postgres://postgres@" + addr + "/x?connect_timeout=1"}, db.RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before, err := r.PrimaryLSN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mark("A") != 0 {
		t.Fatalf("mark of A before any write: %x", r.Mark("A"))
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE mark_probe(x int); DROP TABLE mark_probe`); err != nil {
		t.Fatal(err)
	}
	r.MarkWrite(ctx, "A", "B")
	a := r.Mark("A")
	if a <= before || r.Mark("B") != a {
		t.Fatalf("marks A=%x B=%x, want both past the position before the write %x", a, r.Mark("B"), before)
	}
	if r.Mark("C") != 0 {
		t.Errorf("C wrote nothing but has the mark %x", r.Mark("C"))
	}
	if p, rep := r.Pick(ctx, a, 0); p != pool || rep != nil {
		t.Errorf("a read after A's write went to a replica that has not replayed it")
	}
	// Marks only grow.
	r.MarkWrite(ctx, "A")
	if r.Mark("A") < a {
		t.Errorf("mark of A went back from %x to %x", a, r.Mark("A"))
	}

	none, err := db.NewRouter(ctx, pool, nil, db.RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	none.MarkWrite(ctx, "A")
	var nilRouter *db.Router
	nilRouter.MarkWrite(ctx, "A")
	if none.Mark("A") != 0 || nilRouter.Mark("A") != 0 {
		t.Errorf("marks without replicas: %x, %x; want 0", none.Mark("A"), nilRouter.Mark("A"))
	}
}
