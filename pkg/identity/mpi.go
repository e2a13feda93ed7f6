package identity

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Identifier kinds.
const (
	KindNationalID = "nid" // resident identity card number (GB 11643)
	KindInsurance  = "ins" // medical-insurance number
	KindMRN        = "mrn" // an institution's own patient number; Issuer is the institution code
)

// Key is one patient identifier as the hub keeps it: kind, issuer, keyed hash and masked form.
// The plaintext never leaves the profile step that built the Key.
type Key struct {
	Kind   string
	Issuer string // institution code for MRNs, "" for nid/ins
	Hash   []byte // HMAC-SHA256, see Hasher
	Masked string
}

// Strong reports whether the key identifies a person region-wide (national ID or insurance).
func (k Key) Strong() bool { return k.Kind == KindNationalID || k.Kind == KindInsurance }

func (k Key) id() string { return k.Kind + "\x00" + k.Issuer + "\x00" + string(k.Hash) }

// Demographics are the attributes compared for probable matches; never used to merge.
type Demographics struct {
	Name      string
	Gender    string
	BirthDate *time.Time
	PhoneHash []byte
}

// Request asks for the person behind one report's subject.
type Request struct {
	Keys []Key
	Demo Demographics
}

// Merge records that provisional patient From was merged into Into.
type Merge struct{ From, Into int64 }

// Result is the outcome of resolving a batch.
type Result struct {
	PatientIDs []int64 // per request, the live patient id after all merges in the batch
	Merges     []Merge // in the order applied
	Created    int
	Reviews    int // probable-match or conflict review items opened
	// Changed lists the live ids of patients that existed before the batch and whose identity
	// it changed: an identifier attached, provisional upgraded to identified, or a provisional
	// patient merged into them. Their reports' index events name the patient by its identifiers,
	// so every one of those reports needs a fresh event (index.Store.Apply emits them).
	Changed []int64
}

type patientState struct {
	id          int64
	provisional bool
	isNew       bool
	demo        Demographics
}

// Resolve links every request to a person inside tx, creating patients and identifiers, merging
// provisional (MRN-only) patients into the person a strong identifier names, and opening review
// items for probable matches and conflicts. Identifier rows are locked (FOR UPDATE) so that
// concurrent hub instances serialise on the same person; when another instance created one of
// the same identifiers first, the insert fails with a unique violation and the caller retries
// the whole transaction (see index.IsTransient).
func Resolve(ctx context.Context, tx pgx.Tx, reqs []Request) (*Result, error) {
	// Fast path: a request that names only identifiers the index already has, all of one person,
	// and changes nothing about that person needs no lock and no write. Only the other requests
	// go through the locking path. (Identifier rows are never deleted; if a patient read here is
	// merged meanwhile, the caller follows patients.merged_into under FOR SHARE.)
	kinds, issuers, hashes := keyColumns(reqs)
	keyOwner, patients, err := loadOwners(ctx, tx, kinds, issuers, hashes, false)
	if err != nil {
		return nil, err
	}
	res := &Result{PatientIDs: make([]int64, len(reqs))}
	var changing []int
	for i, r := range reqs {
		if id, ok := unchanged(r, keyOwner, patients); ok {
			res.PatientIDs[i] = id
		} else {
			changing = append(changing, i)
		}
	}
	if len(changing) == 0 {
		return res, nil
	}
	sub := make([]Request, len(changing))
	for j, i := range changing {
		sub[j] = reqs[i]
	}
	locked, err := resolveLocked(ctx, tx, sub)
	if err != nil {
		return nil, err
	}
	into := map[int64]int64{}
	for _, m := range locked.Merges {
		into[m.From] = m.Into
	}
	for i := range res.PatientIDs {
		for id, ok := into[res.PatientIDs[i]]; ok; id, ok = into[res.PatientIDs[i]] {
			res.PatientIDs[i] = id
		}
	}
	for j, i := range changing {
		res.PatientIDs[i] = locked.PatientIDs[j]
	}
	res.Merges, res.Created, res.Reviews, res.Changed = locked.Merges, locked.Created, locked.Reviews, locked.Changed
	return res, nil
}

func keyColumns(reqs []Request) (kinds, issuers []string, hashes [][]byte) {
	seen := map[string]bool{}
	var all []Key
	for _, r := range reqs {
		for _, k := range r.Keys {
			if !seen[k.id()] {
				seen[k.id()] = true
				all = append(all, k)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id() < all[j].id() })
	for _, k := range all {
		kinds = append(kinds, k.Kind)
		issuers = append(issuers, k.Issuer)
		hashes = append(hashes, k.Hash)
	}
	return kinds, issuers, hashes
}

// resolveLocked is Resolve for requests that may change the index of persons.
func resolveLocked(ctx context.Context, tx pgx.Tx, reqs []Request) (*Result, error) {
	// 1. Load existing identifiers and their patients, locking the identifier rows.
	kinds, issuers, hashes := keyColumns(reqs)
	keyOwner, patients, err := loadOwners(ctx, tx, kinds, issuers, hashes, true)
	if err != nil {
		return nil, err
	}

	// 2. Decide in memory, request by request, in delivery order.
	parent := map[int64]int64{} // merges: union-find towards the surviving patient
	find := func(id int64) int64 {
		for {
			p, ok := parent[id]
			if !ok {
				return id
			}
			id = p
		}
	}
	var nextTemp int64 = -1 // new patients get negative temporary ids until allocated
	var newPatients []*patientState
	type attach struct {
		key Key
		pid int64
	}
	var attaches []attach
	upgraded := map[int64]bool{}
	var merges []Merge
	type review struct {
		a, b   int64
		reason string
	}
	var reviews []review
	res := &Result{PatientIDs: make([]int64, len(reqs))}

	for i, r := range reqs {
		var strong []Key
		for _, k := range r.Keys {
			if k.Strong() {
				strong = append(strong, k)
			}
		}
		// nid before ins
		sort.SliceStable(strong, func(a, b int) bool { return strong[a].Kind == KindNationalID && strong[b].Kind != KindNationalID })
		owner := func(k Key) (int64, bool) {
			id, ok := keyOwner[k.id()]
			if !ok {
				return 0, false
			}
			return find(id), true
		}
		target := int64(0)
		for _, k := range strong {
			if id, ok := owner(k); ok {
				target = id
				break
			}
		}
		if target == 0 {
			for _, k := range r.Keys {
				id, ok := owner(k)
				if !ok {
					continue
				}
				// A provisional (MRN-only) patient can take a new strong identifier; a person who
				// already has strong identifiers cannot take a different one.
				if len(strong) == 0 || patients[id].provisional {
					target = id
					break
				}
			}
		}
		if target == 0 {
			p := &patientState{id: nextTemp, provisional: len(strong) == 0, isNew: true, demo: r.Demo}
			nextTemp--
			patients[p.id] = p
			newPatients = append(newPatients, p)
			target = p.id
		}
		for _, k := range r.Keys {
			id, ok := owner(k)
			if !ok {
				keyOwner[k.id()] = target
				attaches = append(attaches, attach{k, target})
				continue
			}
			if id == target {
				continue
			}
			if patients[id].provisional {
				parent[id] = target
				merges = append(merges, Merge{From: id, Into: target})
				continue
			}
			reviews = append(reviews, review{a: id, b: target, reason: "conflict: " + k.Kind + " identifier belongs to another person"})
		}
		if len(strong) > 0 && patients[target].provisional {
			patients[target].provisional = false
			if !patients[target].isNew {
				upgraded[target] = true
			}
		}
		res.PatientIDs[i] = target
	}

	// 3. Allocate ids for new patients.
	real := map[int64]int64{}
	if len(newPatients) > 0 {
		rows, err := tx.Query(ctx, `SELECT nextval('patients_id_seq') FROM generate_series(1, $1::int)`, len(newPatients))
		if err != nil {
			return nil, fmt.Errorf("allocating patient ids: %w", err)
		}
		i := 0
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			real[newPatients[i].id] = id
			i++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("allocating patient ids: %w", err)
		}
	}
	resolve := func(id int64) int64 {
		id = find(id)
		if r, ok := real[id]; ok {
			return r
		}
		return id
	}
	realOnly := func(id int64) int64 {
		if r, ok := real[id]; ok {
			return r
		}
		return id
	}

	// 4. Write.
	if len(newPatients) > 0 {
		rows := make([][]any, 0, len(newPatients))
		for _, p := range newPatients {
			var bd any
			if p.demo.BirthDate != nil {
				bd = *p.demo.BirthDate
			}
			rows = append(rows, []any{real[p.id], p.provisional, p.demo.Name, p.demo.Gender, bd, nilIfEmpty(p.demo.PhoneHash)})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"patients"}, []string{"id", "provisional", "name", "gender", "birth_date", "phone_hash"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("creating patients: %w", err)
		}
	}
	if len(attaches) > 0 {
		rows := make([][]any, 0, len(attaches))
		for _, a := range attaches {
			// Identifiers attach to the patient chosen at that point; a later merge in this batch
			// moves them below, like identifiers that already existed.
			rows = append(rows, []any{a.key.Kind, a.key.Issuer, a.key.Hash, a.key.Masked, realOnly(a.pid)})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"patient_identifiers"}, []string{"kind", "issuer", "value_hash", "masked", "patient_id"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("adding patient identifiers: %w", err)
		}
	}
	var up []int64
	for id := range upgraded {
		if find(id) == id {
			up = append(up, realOnly(id))
		}
	}
	if len(up) > 0 {
		sort.Slice(up, func(i, j int) bool { return up[i] < up[j] })
		if _, err := tx.Exec(ctx, `UPDATE patients SET provisional = false, updated_at = now() WHERE id = ANY($1)`, up); err != nil {
			return nil, fmt.Errorf("marking patients identified: %w", err)
		}
	}
	for _, m := range merges {
		from, into := realOnly(m.From), resolve(m.Into)
		if _, err := tx.Exec(ctx, `UPDATE patient_identifiers SET patient_id = $2 WHERE patient_id = $1`, from, into); err != nil {
			return nil, fmt.Errorf("merging patient identifiers: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE patients SET merged_into = $2, updated_at = now() WHERE id = $1`, from, into); err != nil {
			return nil, fmt.Errorf("merging patient: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE identity_reviews SET status = 'accepted', decided_at = now(), decided_by = 'auto: strong identifier'
			WHERE status = 'open' AND ((patient_a = $1 AND patient_b = $2) OR (patient_a = $2 AND patient_b = $1))`, from, into); err != nil {
			return nil, fmt.Errorf("closing reviews of merged patient: %w", err)
		}
		res.Merges = append(res.Merges, Merge{From: from, Into: into})
	}
	for i := range res.PatientIDs {
		res.PatientIDs[i] = resolve(res.PatientIDs[i])
	}
	res.Created = len(newPatients)
	changed := map[int64]bool{}
	for _, a := range attaches {
		if a.pid > 0 { // temporary ids (< 0) are patients created by this batch: no earlier reports
			changed[resolve(a.pid)] = true
		}
	}
	for id := range upgraded {
		changed[resolve(id)] = true
	}
	for _, m := range res.Merges {
		changed[m.Into] = true
	}
	for id := range changed {
		if id > 0 {
			res.Changed = append(res.Changed, id)
		}
	}
	sort.Slice(res.Changed, func(i, j int) bool { return res.Changed[i] < res.Changed[j] })

	// 5. Review queue: conflicts, and probable matches of new patients on demographics.
	for _, rv := range reviews {
		a, b := resolve(rv.a), resolve(rv.b)
		if a == b {
			continue
		}
		if a > b {
			a, b = b, a
		}
		tag, err := tx.Exec(ctx, `INSERT INTO identity_reviews(patient_a, patient_b, reason) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, a, b, rv.reason)
		if err != nil {
			return nil, fmt.Errorf("opening identity review: %w", err)
		}
		res.Reviews += int(tag.RowsAffected())
	}
	var pids []int64
	for _, p := range newPatients {
		if p.demo.Name != "" && p.demo.BirthDate != nil && p.demo.Gender != "" && find(p.id) == p.id {
			pids = append(pids, real[p.id])
		}
	}
	if len(pids) > 0 {
		tag, err := tx.Exec(ctx, `
			INSERT INTO identity_reviews(patient_a, patient_b, reason)
			SELECT LEAST(o.id, n.id), GREATEST(o.id, n.id),
			       'probable: name+birth_date+gender' || CASE WHEN o.phone_hash IS NOT NULL AND n.phone_hash IS NOT NULL THEN '+phone' ELSE '' END
			FROM patients n
			CROSS JOIN LATERAL (
			    SELECT o.id, o.phone_hash FROM patients o
			    WHERE o.birth_date = n.birth_date AND o.gender = n.gender AND o.name = n.name
			      AND o.merged_into IS NULL AND o.id <> n.id
			      AND (o.phone_hash IS NULL OR n.phone_hash IS NULL OR o.phone_hash = n.phone_hash)
			    LIMIT 10) o -- no ORDER BY: with one, the planner walks the primary key looking for 10 rows
			WHERE n.id = ANY($1)
			-- Two patients never share an identifier row (its primary key names one patient), so
			-- every pair found here is a different person on paper: a candidate for review only.
			ON CONFLICT DO NOTHING`, pids)
		if err != nil {
			return nil, fmt.Errorf("finding probable matches: %w", err)
		}
		res.Reviews += int(tag.RowsAffected())
	}
	return res, nil
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// loadOwners reads which patient owns each identifier; with lock, the identifier rows are locked
// FOR UPDATE in key order.
func loadOwners(ctx context.Context, tx pgx.Tx, kinds, issuers []string, hashes [][]byte, lock bool) (map[string]int64, map[int64]*patientState, error) {
	keyOwner := map[string]int64{}
	patients := map[int64]*patientState{}
	if len(kinds) == 0 {
		return keyOwner, patients, nil
	}
	q := `SELECT pi.kind, pi.issuer, pi.value_hash, p.id, p.provisional
		FROM unnest($1::text[], $2::text[], $3::bytea[]) AS q(kind, issuer, value_hash)
		JOIN patient_identifiers pi USING (kind, issuer, value_hash)
		JOIN patients p ON p.id = pi.patient_id
		ORDER BY pi.kind, pi.issuer, pi.value_hash`
	if lock {
		q += ` FOR UPDATE OF pi`
	}
	rows, err := tx.Query(ctx, q, kinds, issuers, hashes)
	if err != nil {
		return nil, nil, fmt.Errorf("loading patient identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k Key
		var ps patientState
		if err := rows.Scan(&k.Kind, &k.Issuer, &k.Hash, &ps.id, &ps.provisional); err != nil {
			return nil, nil, fmt.Errorf("scanning patient identifier: %w", err)
		}
		keyOwner[k.id()] = ps.id
		if _, ok := patients[ps.id]; !ok {
			p := ps
			patients[ps.id] = &p
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("loading patient identifiers: %w", err)
	}
	return keyOwner, patients, nil
}

// unchanged reports whether r changes nothing — every key known, all owned by one patient, and
// no provisional patient named by a strong identifier — and if so, who the patient is.
func unchanged(r Request, keyOwner map[string]int64, patients map[int64]*patientState) (int64, bool) {
	var owner int64
	strong := false
	for _, k := range r.Keys {
		id, ok := keyOwner[k.id()]
		if !ok || (owner != 0 && id != owner) {
			return 0, false
		}
		owner = id
		strong = strong || k.Strong()
	}
	if owner == 0 || (strong && patients[owner].provisional) {
		return 0, false
	}
	return owner, true
}
