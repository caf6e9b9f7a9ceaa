// Package touchpoints is the touchpoints group: it owns the table keyed by
// touchpoint key (project:<device id, lower case> or project:<client ip>,
// see codecs.DeviceKey and codecs.IPKey) and joins clicks with installs on
// it. Each entry is a State: the clicks seen on the key and the installs
// that asked about it.
//
// Input `touchpoint-updates` (codecs.TouchpointUpdate, from the clicks
// group) records a click on the key, once per click id. The click is then
// offered to every install recorded on the key whose window holds it
// (installed_at-window <= clicked_at <= installed_at) as a "touch" reply:
// the click arrived after the install asked, and the install must learn of
// it to decide the same as if it had arrived first.
//
// Input `match-requests` (codecs.MatchRequest, from the attribution group)
// records the install on the key, once per install id (a repeated request
// replaces the record), and is always answered with a "match" reply, even
// an empty one, because the install waits for every reply it asked for. The
// answer holds the clicks of the window (the newest Limit, or the oldest
// Limit when Oldest is set; a Limit of zero or less means all of them),
// oldest first; the number of clicks in the window plus every click
// dropped by the bound below, so the IP flood rule errs on the side of
// flagging; and the installs recorded before the requester that are still
// kept at its install time (their window plus the slack has not passed),
// oldest first. On a device key, every recorded install after the requester
// that would keep it so is told of it with a "prior" reply: its reinstall
// check ran without it. So whether a sweep has removed an install yet
// changes no answer.
//
// Together the three reply types make an install's view independent of the
// order its inputs arrive in: every click of its window reaches it either in
// the match answer or in a later touch, and every earlier install either in
// the answer or in a later prior. With a limit, the install keeps the newest
// (or oldest) Limit of the union, which is the same set in every order.
// Nothing here reads the wall clock.
//
// The entry is bounded, because a shared address or a flooding network can
// send clicks without end: it keeps the K oldest and the K newest clicks
// and drops the one in the middle when a click makes the list longer than
// 2K (the oldest clicks win first-click rules, the newest last-click ones),
// counting it in Overflow; it keeps the MaxInstalls newest installs,
// counting the others in InstallOverflow.
//
// State expires by watermark (package stream/clock): a sweep removes a click
// once its clicked_at plus the project's retention (longest window plus
// slack, processors.Deps.Retention) is before the partition's watermark, an
// install once its installed_at plus its window plus the slack is, and the
// overflow count once the latest dropped click would have expired; an entry
// with nothing left is deleted.
//
// Inputs are decoded inside the callbacks (stream.Guard): a record that does
// not decode or does not validate goes to `touchpoints-dlq` and the
// partition goes on. Each input is applied once (stream.Once, with the
// offsets in State.Absorbed); a redelivered input after a crash sends its
// replies again, computed from the stored state, without applying it again.
package touchpoints
