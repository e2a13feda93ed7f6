// Package bench holds mrhub's benchmark commands (`mrhub bench ...`). They print their figures;
// nothing here asserts a time. Each run uses its own throw-away database on the configured
// PostgreSQL server and its own embedded broker data directory, and removes both at the end.
package bench
