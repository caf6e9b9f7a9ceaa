// Package catalog describes projects (and later campaigns, domains and
// credentials) and answers the lookups the gateway and processors make.
// Today it is a static, in-memory catalog built from configuration (the
// demo project of `hazelnut dev`); the Postgres catalog and the compacted
// `catalog` topic widen it later behind the same lookups.
package catalog
