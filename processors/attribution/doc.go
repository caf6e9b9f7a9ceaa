// Package attribution is the attribution group: it owns the table keyed by
// install (project:install_instance_id) holding the install, what it asked
// the click side, the candidates found, its current decision and its app
// opens.
//
// Input `installs` → the first init of an install sends match requests
// (device ids, client address) and a direct claim (lr_ia_id); the answers
// come back on `attribution-replies`, and once nothing is outstanding the
// arbiter decides, claims the winner and emits the decision to
// `attributions` with its jobs. Later inits are app opens. Records that
// cannot be decoded go to `attribution-dlq` with their error. Callbacks do
// no I/O beyond goka's context.
//
// The states of installs waiting for answers are also kept in memory for
// the consumer group session (states.go): answers read them from there, and
// an answer after which another is still due does not write the table; its
// commit is held until a later input of the install writes the state
// (commit.Scope).
package attribution
