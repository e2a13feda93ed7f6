package offsets_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mrhub/mrhub/pkg/offsets"
	"github.com/mrhub/mrhub/pkg/testenv"
)

func TestLockSaveApplied(t *testing.T) {
	_, pool := testenv.EmptyDB(t)
	ctx := context.Background()
	batch := []offsets.Position{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "t", Partition: 0, Offset: 9}, {Topic: "t", Partition: 2, Offset: 3}}
	run := func(ps []offsets.Position) offsets.Next {
		var next offsets.Next
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			if next, err = offsets.Lock(ctx, tx, "g", ps); err != nil {
				return err
			}
			return offsets.Save(ctx, tx, "g", ps)
		})
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	first := run(batch)
	for _, p := range batch {
		if first.Applied(p) {
			t.Fatalf("%+v applied before anything was saved", p)
		}
	}
	second := run(batch)
	for _, p := range batch {
		if !second.Applied(p) {
			t.Fatalf("%+v not applied after saving", p)
		}
	}
	if second.Applied(offsets.Position{Topic: "t", Partition: 0, Offset: 10}) || !second.Applied(offsets.Position{Topic: "t", Partition: 0, Offset: 6}) {
		t.Fatal("partition 0 should be applied up to offset 9 inclusive")
	}
	// An older batch never moves an offset back; another consumer name has its own offsets.
	run([]offsets.Position{{Topic: "t", Partition: 0, Offset: 1}})
	read, err := offsets.Read(ctx, pool, "g")
	if err != nil {
		t.Fatal(err)
	}
	if !read.Applied(offsets.Position{Topic: "t", Partition: 0, Offset: 9}) {
		t.Fatal("saving an older offset moved partition 0 back")
	}
	other, err := offsets.Read(ctx, pool, "other")
	if err != nil {
		t.Fatal(err)
	}
	if other.Applied(offsets.Position{Topic: "t", Partition: 0, Offset: 0}) {
		t.Fatal("another consumer name sees g's offsets")
	}
}
