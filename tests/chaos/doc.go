// Package chaos holds the scale-out and fault tests. They build cmd/mrhub and run
// real processes on 127.0.0.1 — an embedded broker (`mrhub broker`) and several `mrhub serve`
// hubs in one consumer group over one throw-away PostgreSQL database — then SIGKILL, restart and
// overload them, and check the end state against a clean in-process pass of the same messages
// (reports, and in the chaos run clinicians' decisions sent on the topic and over the API).
//
// Every test is bounded in time and stops by itself; the package runs in about three minutes on
// a 2-core machine. Longer or disruptive variants are opt-in:
//
//	MRHUB_CHAOS_FULL=1        chaos run with 20 hub kills instead of 6
//	MRHUB_CHAOS_PG_RESTART=1  chaos run also restarts the local PostgreSQL server
//	                          (pg_ctlcluster --skip-systemctl-redirect <ver> main restart: the
//	                          shared server, so it is off by default)
//	MRHUB_SCALE_BENCH=1       ingest rate with 1, 2 and 3 hub processes (prints a table)
//
// Like every database test, they skip without PostgreSQL unless MRHUB_REQUIRE_PG=1.
package chaos
