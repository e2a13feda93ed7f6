// Package docs holds mrhub's documentation (Markdown, in English and Chinese, and the example
// messages under examples/) and the tests that keep it true to the code:
//
//   - every `mrhub` command, subcommand and flag the built binary has is documented in
//     reference.md, and every one the documents name exists;
//   - every MRHUB_* environment variable the Go sources read is documented in reference.md, and
//     every one the documents name is read somewhere;
//   - every dead-letter code, Prometheus metric and HTTP route of the code is documented, and no
//     document names one that does not exist;
//   - every relative link resolves inside the repository; every JSON code block and example file
//     parses, and the FHIR ones validate against the official R4 JSON Schema;
//   - each example message, published through a real broker into a real hub and database, is
//     indexed (and each example decision is stored);
//   - a pg_dump of a running hub restored into a fresh database, followed by a reindex, serves the
//     same answers as the hub it was taken from;
//   - the commands tables of README.md, README.zh-CN.md and reference.md name the binary's
//     commands;
//   - no package imports a package of a higher layer than its own, as DESIGN.md's "Layers" lists
//     them.
//
// The failure messages say which file and section to change and what to add or remove.
package docs
