// Package catalog holds the region's reference data for result mutual recognition
// (检查检验结果互认): districts, medical communities (医共体), institutions, the item catalogue
// (互认项目目录), code maps from hospitals' local codes to catalogue items, HR qualifications per
// (institution, item) and the platform's decline reasons.
//
// Contract:
//
//   - Region is the plain data, as stored in seeds/ (JSON; dates as "YYYY-MM-DD") and in the
//     reference tables of schemas/migrations/0001_core.sql. Region.Validate checks referential
//     integrity, code shapes (USCC check digits per GB 32100, ValidateUSCC), one lead hospital per
//     community, and reports every problem found, each saying what to fix.
//   - Upsert writes a Region in one transaction with INSERT … ON CONFLICT DO UPDATE … WHERE
//     something changed: running it again with the same Region rewrites no row. It never
//     deletes: rows absent from the Region stay (reports may reference them).
//   - Catalog is an immutable snapshot for hot-path lookups, built by NewCatalog (from a Region,
//     which it copies) or Load (from the database). It is safe for concurrent use; the pointers
//     its methods return point into the snapshot and must not be modified. To pick up new
//     reference data, build a new Catalog and swap it (e.g. with atomic.Pointer).
//   - Institutions are looked up by their code (unified social credit code) or their region
//     code. MapCode tries the institution's own code map first, then any catalogue item whose
//     standard code (CodeSystem, StdCode) equals the code sent: a standard code is recognised
//     from any institution. Unmapped codes are simply not found; callers store them as
//     unrecognisable.
//   - Qualification periods are calendar dates, inclusive at both ends, judged in China time
//     (UTC+8): Qualified(…, at) uses the date of at in UTC+8.
package catalog
