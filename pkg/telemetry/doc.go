// Package telemetry builds mrhub's zap logger and its Prometheus metrics. Nothing here is global:
// cmd/mrhub creates one registry and one Metrics value and injects them. Labels are low
// cardinality (error codes, outcomes, topics), never patient, report or institution identifiers.
package telemetry
