// Package bench holds mrhub's benchmarks, `mrhub bench ingest|query|stats`: ingest (publish
// synthetic reports to an embedded broker and index them through a hub), query (load a synthetic
// index, then drive recognizable and FHIR search over HTTP and time recognizable's database reads
// alone) and stats (load decisions, then time the statistics queries). They use what they
// measure through its exported API (pkg/hub, pkg/httpapi, pkg/stats); no production package
// imports this one. They print their figures; nothing here asserts a time. Each run uses its own
// throw-away database on the configured PostgreSQL server (and, for ingest, its own embedded
// broker data directory) and removes it at the end.
package bench
