// Package gateway is Hazelnut's HTTP surface (chi). Handlers validate and
// stamp requests (request id, received_at, client IP), publish them to their
// topic through a Publisher and answer once the broker acknowledged; reads
// come from views. Handlers do no other I/O.
//
// Today: POST /api/client/init → `installs`; POST
// /api/client/attribution-data ← `decisions` view; /healthz and /readyz.
package gateway
