package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TxBeginner starts a transaction; *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Querier runs a query; *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Each upsert rewrites a row only when a column differs, so a second run with the same data
// touches nothing (no new row versions, no trigger firings, RowsAffected 0).
var upsertSQL = struct {
	district, community, institution, item, codeMap, qualification, reason string
}{
	district: `INSERT INTO districts (code, name, name_en) VALUES ($1, $2, $3)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en
WHERE (districts.name, districts.name_en) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en)`,
	community: `INSERT INTO communities (code, name, name_en, district, lead_code) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en,
	district = EXCLUDED.district, lead_code = EXCLUDED.lead_code
WHERE (communities.name, communities.name_en, communities.district, communities.lead_code)
	IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.district, EXCLUDED.lead_code)`,
	institution: `INSERT INTO institutions (code, name, name_en, kind, district, community, region_code, mrn_systems)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en, kind = EXCLUDED.kind,
	district = EXCLUDED.district, community = EXCLUDED.community, region_code = EXCLUDED.region_code,
	mrn_systems = EXCLUDED.mrn_systems
WHERE (institutions.name, institutions.name_en, institutions.kind, institutions.district,
	institutions.community, institutions.region_code, institutions.mrn_systems)
	IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.kind, EXCLUDED.district,
	EXCLUDED.community, EXCLUDED.region_code, EXCLUDED.mrn_systems)`,
	item: `INSERT INTO items (code, name, name_en, kind, code_system, std_code, validity_days, price_cents, scope, department)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en, kind = EXCLUDED.kind,
	code_system = EXCLUDED.code_system, std_code = EXCLUDED.std_code, validity_days = EXCLUDED.validity_days,
	price_cents = EXCLUDED.price_cents, scope = EXCLUDED.scope, department = EXCLUDED.department
WHERE (items.name, items.name_en, items.kind, items.code_system, items.std_code, items.validity_days,
	items.price_cents, items.scope, items.department)
	IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.kind, EXCLUDED.code_system, EXCLUDED.std_code,
	EXCLUDED.validity_days, EXCLUDED.price_cents, EXCLUDED.scope, EXCLUDED.department)`,
	codeMap: `INSERT INTO code_maps (institution, system, code, item) VALUES ($1, $2, $3, $4)
ON CONFLICT (institution, system, code) DO UPDATE SET item = EXCLUDED.item
WHERE code_maps.item IS DISTINCT FROM EXCLUDED.item`,
	qualification: `INSERT INTO qualifications (institution, item, scope, valid_from, valid_to) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (institution, item, valid_from) DO UPDATE SET scope = EXCLUDED.scope, valid_to = EXCLUDED.valid_to
WHERE (qualifications.scope, qualifications.valid_to) IS DISTINCT FROM (EXCLUDED.scope, EXCLUDED.valid_to)`,
	reason: `INSERT INTO decline_reasons (code, name, name_en, counts_in_rate, note_required) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en,
	counts_in_rate = EXCLUDED.counts_in_rate, note_required = EXCLUDED.note_required
WHERE (decline_reasons.name, decline_reasons.name_en, decline_reasons.counts_in_rate, decline_reasons.note_required)
	IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.counts_in_rate, EXCLUDED.note_required)`,
}

// Upsert validates r and writes it in one transaction, inserting new rows and updating changed
// ones; running it twice with the same Region changes nothing. Rows not in r are kept.
func Upsert(ctx context.Context, db TxBeginner, r *Region) error {
	_, err := upsert(ctx, db, r)
	return err
}

// upsert is Upsert returning the number of rows inserted or updated.
func upsert(ctx context.Context, db TxBeginner, r *Region) (changed int64, err error) {
	if err := r.Validate(); err != nil {
		return 0, fmt.Errorf("upserting region: %w", err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("upserting region: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()

	// Order follows the foreign keys: districts, communities (lead_code has none), institutions,
	// items, then what references them.
	b := &pgx.Batch{}
	for _, d := range r.Districts {
		b.Queue(upsertSQL.district, d.Code, d.Name, d.NameEn)
	}
	for _, c := range r.Communities {
		b.Queue(upsertSQL.community, c.Code, c.Name, c.NameEn, c.District, c.LeadCode)
	}
	for _, in := range r.Institutions {
		b.Queue(upsertSQL.institution, in.Code, in.Name, in.NameEn, in.Kind, in.District, in.Community, in.RegionCode, mrnSystems(in.MRNSystems))
	}
	for _, it := range r.Items {
		b.Queue(upsertSQL.item, it.Code, it.Name, it.NameEn, it.Kind, it.CodeSystem, it.StdCode,
			it.ValidityDays, it.PriceCents, it.Scope, it.Department)
	}
	for _, m := range r.CodeMaps {
		b.Queue(upsertSQL.codeMap, m.Institution, m.System, m.Code, m.Item)
	}
	for _, q := range r.Qualifications {
		b.Queue(upsertSQL.qualification, q.Institution, q.Item, q.Scope, pgDate(q.ValidFrom), pgDate(q.ValidTo))
	}
	for _, rs := range r.Reasons {
		b.Queue(upsertSQL.reason, rs.Code, rs.Name, rs.NameEn, rs.CountsInRate, rs.NoteRequired)
	}
	n := b.Len()
	br := tx.SendBatch(ctx, b)
	for i := 0; i < n; i++ {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return 0, fmt.Errorf("upserting region: statement %d of %d: %w", i+1, n, err)
		}
		changed += tag.RowsAffected()
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("upserting region: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("upserting region: commit: %w", err)
	}
	return changed, nil
}

// mrnSystems is the column value of Institution.MRNSystems: never NULL.
func mrnSystems(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pgDate is the calendar date of t as a UTC-midnight time, which pgx encodes as that date.
func pgDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Load reads the reference tables into a Catalog. The Region's Name is not stored in the
// database: Load names it after its single district, or leaves it empty.
func Load(ctx context.Context, q Querier) (*Catalog, error) {
	r, err := LoadRegion(ctx, q)
	if err != nil {
		return nil, err
	}
	return NewCatalog(r), nil
}

// LoadRegion reads the reference tables into a Region, in primary-key order.
func LoadRegion(ctx context.Context, q Querier) (*Region, error) {
	r := &Region{}
	var err error
	if r.Districts, err = collect(ctx, q, "districts",
		`SELECT code, name, name_en FROM districts ORDER BY code`,
		func(row pgx.CollectableRow) (District, error) {
			var d District
			return d, row.Scan(&d.Code, &d.Name, &d.NameEn)
		}); err != nil {
		return nil, err
	}
	if r.Communities, err = collect(ctx, q, "communities",
		`SELECT code, name, name_en, district, lead_code FROM communities ORDER BY code`,
		func(row pgx.CollectableRow) (Community, error) {
			var c Community
			return c, row.Scan(&c.Code, &c.Name, &c.NameEn, &c.District, &c.LeadCode)
		}); err != nil {
		return nil, err
	}
	if r.Institutions, err = collect(ctx, q, "institutions",
		`SELECT code, name, name_en, kind, district, coalesce(community, ''), region_code, mrn_systems FROM institutions ORDER BY code`,
		func(row pgx.CollectableRow) (Institution, error) {
			var in Institution
			err := row.Scan(&in.Code, &in.Name, &in.NameEn, &in.Kind, &in.District, &in.Community, &in.RegionCode, &in.MRNSystems)
			if len(in.MRNSystems) == 0 {
				in.MRNSystems = nil
			}
			return in, err
		}); err != nil {
		return nil, err
	}
	if r.Items, err = collect(ctx, q, "items",
		`SELECT code, name, name_en, kind, code_system, std_code, validity_days, price_cents, scope, department
		 FROM items ORDER BY code`,
		func(row pgx.CollectableRow) (Item, error) {
			var it Item
			return it, row.Scan(&it.Code, &it.Name, &it.NameEn, &it.Kind, &it.CodeSystem, &it.StdCode,
				&it.ValidityDays, &it.PriceCents, &it.Scope, &it.Department)
		}); err != nil {
		return nil, err
	}
	if r.CodeMaps, err = collect(ctx, q, "code_maps",
		`SELECT institution, system, code, item FROM code_maps ORDER BY institution, system, code`,
		func(row pgx.CollectableRow) (CodeMap, error) {
			var m CodeMap
			return m, row.Scan(&m.Institution, &m.System, &m.Code, &m.Item)
		}); err != nil {
		return nil, err
	}
	if r.Qualifications, err = collect(ctx, q, "qualifications",
		`SELECT institution, item, scope, valid_from, valid_to FROM qualifications ORDER BY institution, item, valid_from`,
		func(row pgx.CollectableRow) (Qualification, error) {
			var ql Qualification
			return ql, row.Scan(&ql.Institution, &ql.Item, &ql.Scope, &ql.ValidFrom, &ql.ValidTo)
		}); err != nil {
		return nil, err
	}
	if r.Reasons, err = collect(ctx, q, "decline_reasons",
		`SELECT code, name, name_en, counts_in_rate, note_required FROM decline_reasons ORDER BY code`,
		func(row pgx.CollectableRow) (Reason, error) {
			var rs Reason
			return rs, row.Scan(&rs.Code, &rs.Name, &rs.NameEn, &rs.CountsInRate, &rs.NoteRequired)
		}); err != nil {
		return nil, err
	}
	if len(r.Districts) == 1 {
		r.Name = r.Districts[0].Name
	}
	return r, nil
}

func collect[T any](ctx context.Context, q Querier, table, sql string, fn pgx.RowToFunc[T]) ([]T, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, fn)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", table, err)
	}
	return out, nil
}
