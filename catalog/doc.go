// Package catalog is the model of what Hazelnut knows about the apps it
// attributes: projects (secrets and decision-affecting settings), campaigns,
// branded domains, network accounts and postback event maps. It holds
// plain values and their validation only; storage lives in subpackages:
// catalog/pgstore (PostgreSQL, the production catalog) and catalog/yamlcat
// (a YAML file, docs/catalog.md, for `hazelnut dev` and tests).
//
// Settings that affect decisions are History values: dated spans looked up
// as of an install's event time, so a replay decides the same after a
// setting changed. A delete is an end date. Secrets are current-only.
// Every entity has an id and a Version bumped by every write.
//
// Two in-memory lookups serve the gateway: Static (projects built from
// configuration, e.g. the demo project of `hazelnut dev`) and Catalog (a
// whole catalog, e.g. loaded from YAML). Both resolve client tokens by
// hash with ProjectByToken and are safe for concurrent use once built.
package catalog
