// Package attribution is the attribution group: it owns the table keyed by
// install (project:install_instance_id) holding the install, its current
// decision and its app opens.
//
// Input `installs` → the first init of an install is decided (today always
// organic; click matching and network strategies widen this later) and the
// decision is emitted to `attributions`; later inits are app opens, counted
// in the table. Records that cannot be decoded go to `attribution-dlq` with
// their error. Callbacks do no I/O beyond goka's context.
package attribution
