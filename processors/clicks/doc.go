// Package clicks is the clicks group: it owns the table keyed by click id
// (lr_ia_id) holding the click's reference (codecs.ClickRef: what claim
// answers and expiry need; the whole click stays on its topic), the
// installs that claim it and which of them holds it, and it arbitrates
// claims so that a click is credited to one install only: the earliest
// claimant by (installed_at, install id).
//
// Input `clicks` → a new click's reference is stored, the click is sent on
// `clicks-recorded` and, as one TouchpointUpdate per device id it carries
// (gaid, idfa, idfv; empty and all-zero ids are skipped) and one for its
// client address, on `touchpoint-updates`, where the touchpoints group
// indexes it. A click id already stored is a duplicate and changes
// nothing. Claims that were
// waiting for the click are answered: the earliest claimant of the click's
// project is granted it, the other claimants of that project are denied it,
// and claimants of another project are told it is unknown to them.
//
// Input `click-claims` → a claim is remembered (once per install) and
// answered on `attribution-replies`, keyed by the claimant's install:
// pending while the click is not known, unknown for a click of another
// project (not remembered), granted to the earliest claimant, denied to the
// others. A claim earlier than the holder's takes the click over and the
// previous holder is told it was revoked, so the holder ends up the same
// whatever order the claims and the click arrive in. When the holder
// releases the click, the claims of the others end and they are told it was
// released: they may claim it again, and the earliest of those that do gets
// it. A release by a claimant that does not hold the click only withdraws
// its claim.
//
// Time is event time only: the partition watermark (package clock), fed
// with the clicks' received_at and the claims' installed_at and advanced by
// ticks. A sweep deletes clicks, with their claims, once the watermark
// passes received_at plus Deps.Retention, quietly: by then attribution no
// longer asks about them. Claims whose click has not arrived by
// installed_at plus Deps.Lateness are answered unknown by an input: the
// sweep loops a codecs.ClaimExpiry back to the group (`clicks-loop`), whose
// answers are then sent at least once like any input's; the entry stays
// with them for the lateness plus Deps.Slack before a sweep deletes it.
//
// Inputs are applied once and their outputs sent at least once
// (stream.Once): the state keeps, per input topic, the highest offset it
// absorbed, and the last answer sent to each install together with the
// input that caused it, so an input delivered again after a crash re-sends
// exactly the answers it caused that nothing has superseded since, and
// changes nothing. Records that cannot be decoded or are invalid go to
// `clicks-dlq` with their error.
package clicks
