package codecs

import (
	"strings"
	"time"
)

// The messages the click side (groups clicks and touchpoints) and the
// attribution group exchange. Installs are joined against clicks by
// re-keying: attribution sends requests keyed by touchpoint key or click id,
// and every answer comes back on `attribution-replies`, keyed by install.
//
//	clicks ──touchpoint-updates──▶ touchpoints ◀──match-requests── attribution
//	   ▲                                │                            ▲   │
//	   │                                └───attribution-replies─────▶┘   │
//	   └────────────────────click-claims─────────────────────────────────┘
//	clicks ──attribution-replies (claim answers)──▶ attribution
//
// Every time below is an event time (received_at of the click or the
// install), never a wall clock.

// Touchpoint kinds: the key family of a touchpoint key.
const (
	TouchDevice = "device" // project:<advertising or vendor id>, lower case
	TouchIP     = "ip"     // project:<client ip>
)

// DeviceKey is the touchpoint key of a device id (GAID, IDFA, IDFV): ids
// are compared in lower case.
func DeviceKey(project, id string) string { return project + ":" + strings.ToLower(id) }

// IPKey is the touchpoint key of a client address.
func IPKey(project, ip string) string { return project + ":" + ip }

// ClickRef is what the click side tells about one click: enough to
// arbitrate and to resolve its campaign, without the whole click.
type ClickRef struct {
	ClickID    string `json:"click_id"`
	ProjectID  string `json:"project_id"`
	CampaignID string `json:"campaign_id,omitempty"`
	// Source is how the click was recorded (Click.Source).
	Source string `json:"source,omitempty"`
	// Platform is the OS its user agent names ("Android", "iOS", ...).
	Platform string `json:"platform,omitempty"`
	// Params are the click ids and UTM parameters of the click.
	Params    map[string]string `json:"params,omitempty"`
	ClickedAt time.Time         `json:"clicked_at"`
}

// Earlier orders click refs by (clicked_at, click id).
func (c ClickRef) Earlier(o ClickRef) bool { return CompareClicks(c, o) < 0 }

// CompareClicks orders click refs by (clicked_at, click id), for
// slices.SortFunc and binary searches.
func CompareClicks(a, b ClickRef) int {
	if c := a.ClickedAt.Compare(b.ClickedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ClickID, b.ClickID)
}

// InstallRef names an install and its event time.
type InstallRef struct {
	InstallID   string    `json:"install_instance_id"`
	InstalledAt time.Time `json:"installed_at"`
}

// Before orders installs by (installed_at, install id): the order "first"
// means everywhere.
func (i InstallRef) Before(o InstallRef) bool { return CompareInstalls(i, o) < 0 }

// CompareInstalls orders installs by (installed_at, install id), for
// slices.SortFunc and binary searches.
func CompareInstalls(a, b InstallRef) int {
	if c := a.InstalledAt.Compare(b.InstalledAt); c != 0 {
		return c
	}
	return strings.Compare(a.InstallID, b.InstallID)
}

// TouchpointUpdate is a recorded click as seen from one of its touchpoint
// keys, on topic `touchpoint-updates` keyed by Key. The clicks group sends
// one per device id the click carries and one for its client address.
type TouchpointUpdate struct {
	Key   string   `json:"key"`
	Kind  string   `json:"kind"`
	Click ClickRef `json:"click"`
}

// MatchRequest asks the touchpoints group for the clicks of one key that
// may have caused an install, on topic `match-requests` keyed by Key.
// Candidates are clicks of the install's project on that key with
// InstalledAt-Window <= clicked_at <= InstalledAt; Limit of them, the newest
// (device) or, when Oldest is set, the oldest (IP). The group also records
// the install on the key, answers with the earlier installs it has seen on
// it, and later tells the install about clicks that arrive inside its window
// and about earlier installs that arrive late.
type MatchRequest struct {
	Key         string        `json:"key"`
	Kind        string        `json:"kind"`
	ProjectID   string        `json:"project_id"`
	InstallID   string        `json:"install_instance_id"`
	InstalledAt time.Time     `json:"installed_at"`
	Window      time.Duration `json:"window"`
	Limit       int           `json:"limit"`
	Oldest      bool          `json:"oldest,omitempty"`
	// FloodWindow, when set, is the span before InstalledAt whose clicks
	// the reply counts (AttributionReply.Clicks) instead of Window's: the
	// IP flooding rule's window.
	FloodWindow time.Duration `json:"flood_window,omitempty"`
}

// Claim operations (ClickClaim.Op).
const (
	ClaimOp   = "claim"
	ReleaseOp = "release"
)

// ClickClaim asks the clicks group for a click (Op claim) or gives it back
// (Op release), on topic `click-claims` keyed by the click id. The click goes
// to the earliest claimant by (installed_at, install id).
type ClickClaim struct {
	Op          string    `json:"op"`
	ClickID     string    `json:"click_id"`
	ProjectID   string    `json:"project_id"`
	InstallID   string    `json:"install_instance_id"`
	InstalledAt time.Time `json:"installed_at"`
}

// ClaimExpiry is what the clicks group's sweep loops back to itself, on
// topic `clicks-loop` keyed by the click id: the claims of the click whose
// installed_at plus the allowed lateness is before Watermark are answered
// unknown, by an input, so their answers are sent at least once.
type ClaimExpiry struct {
	ClickID   string    `json:"click_id"`
	Watermark time.Time `json:"watermark"`
}

// Reply types (AttributionReply.Type).
const (
	// ReplyMatch answers a MatchRequest.
	ReplyMatch = "match"
	// ReplyTouch tells an install of a click that arrived on one of its
	// keys after it, inside its window (Candidates holds the click).
	ReplyTouch = "touch"
	// ReplyPrior tells an install of an earlier install on one of its
	// device keys that arrived after it (PriorInstalls holds it).
	ReplyPrior = "prior"
	// ReplyClaim answers or updates a claim (Claim is the status).
	ReplyClaim = "claim"
)

// Claim statuses (AttributionReply.Claim).
const (
	// ClaimGranted: the click is the install's (Click holds it).
	ClaimGranted = "granted"
	// ClaimDenied: an earlier install holds it (Holder).
	ClaimDenied = "denied"
	// ClaimPending: the click is not known yet; the claim is remembered
	// and answered again when it arrives (granted or denied) or when the
	// watermark passes installed_at plus the allowed lateness (unknown).
	ClaimPending = "pending"
	// ClaimUnknown: the click never arrived in time; the claim is dropped.
	ClaimUnknown = "unknown"
	// ClaimRevoked: an earlier install claimed the click the install held.
	ClaimRevoked = "revoked"
	// ClaimReleased: the holder gave the click back; a claimant that was
	// denied it may claim it again.
	ClaimReleased = "released"
)

// AttributionReply is every answer to the attribution group, on topic
// `attribution-replies` keyed project:install_instance_id.
type AttributionReply struct {
	Type      string `json:"type"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	// Key and Kind name the touchpoint (match, touch, prior).
	Key  string `json:"key,omitempty"`
	Kind string `json:"kind,omitempty"`
	// Candidates are the matching clicks, oldest first (match, touch).
	Candidates []ClickRef `json:"candidates,omitempty"`
	// Clicks is how many clicks the key holds at installed_at inside the
	// request's flood window (its window when it has none), overflowed ones
	// included (match): what the IP flooding rule reads.
	Clicks int `json:"clicks,omitempty"`
	// PriorInstalls are earlier installs seen on the key (match, prior),
	// oldest first.
	PriorInstalls []InstallRef `json:"prior_installs,omitempty"`
	// ClickID, Claim, Click and Holder answer a claim.
	ClickID string    `json:"click_id,omitempty"`
	Claim   string    `json:"claim,omitempty"`
	Click   *ClickRef `json:"click,omitempty"`
	Holder  string    `json:"holder,omitempty"`
	// At is the event time the reply is about: the request's installed_at
	// (match, claim) or the arriving click's or install's time (touch,
	// prior).
	At time.Time `json:"at"`
}
