package codecs

import (
	"encoding/json"
	"time"
)

// Install is one `init` call as accepted by the gateway, on topic
// `installs`, keyed project:install_instance_id. The first one of an install
// is the install; later ones are app opens.
type Install struct {
	// RequestID is the gateway's id of the request (the processing_id
	// answered to the SDK); with ReceivedAt it orders "first".
	RequestID string `json:"request_id"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	// MintedID is set when the SDK sent a placeholder install id and the
	// gateway minted InstallID.
	MintedID       bool            `json:"minted_id,omitempty"`
	Platform       string          `json:"platform,omitempty"`
	PackageVersion string          `json:"package_version,omitempty"`
	AppVersion     string          `json:"app_version,omitempty"`
	Source         string          `json:"source,omitempty"`
	Link           string          `json:"link,omitempty"`
	Debug          bool            `json:"debug,omitempty"`
	DeviceData     json.RawMessage `json:"device_data,omitempty"`
	// Extra holds the body's other keys, unchanged (never the token).
	Extra     json.RawMessage `json:"extra,omitempty"`
	ClientIP  string          `json:"client_ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	// ReceivedAt is the gateway's clock when it accepted the request: the
	// event time every rule compares.
	ReceivedAt time.Time `json:"received_at"`
}

// Campaign is the campaign a decision credits.
type Campaign struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Network   string `json:"network,omitempty"`
	NetworkID string `json:"network_campaign_id,omitempty"`
}

// Attributions kinds (Decision.Kind).
const (
	// KindDecision is a version of an install's decision.
	KindDecision = "decision"
	// KindAppOpen is a later init of an install: an app open, credited to
	// the install's decision when it falls inside the re-engagement window.
	KindAppOpen = "app_open"
)

// Decision is one version of the attribution decision of an install, on
// topic `attributions` and in the `decisions` projection, keyed
// project:install_instance_id. App opens travel on the same topic with Kind
// app_open and the decision they are credited to.
type Decision struct {
	// ID is derived from the content (project, install, version), so a
	// re-emitted decision carries the same id.
	ID        string `json:"id"`
	Kind      string `json:"kind,omitempty"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	Version   int    `json:"version"`
	// Source is the attribution source the SDK sees ("ORGANIC", "META", ...).
	Source string `json:"source"`
	// MatchType is how the winner was found: "lr_ia_id", "device", "ip"
	// or "organic".
	MatchType string    `json:"match_type"`
	Tier      int       `json:"tier"`
	Campaign  *Campaign `json:"campaign,omitempty"`
	Deeplink  string    `json:"deeplink,omitempty"`
	Platform  string    `json:"platform,omitempty"`
	// Devices are the install's advertising and vendor ids, lower case.
	Devices []string `json:"devices,omitempty"`
	// ClickID and ClickedAt are the winning click's.
	ClickID     string    `json:"click_id,omitempty"`
	ClickedAt   time.Time `json:"clicked_at,omitzero"`
	InstalledAt time.Time `json:"installed_at"`
	// Confidence is how sure the match is: 1 for an lr_ia_id, 0.99 for a
	// device id, lower for an IP match; 0 for organic.
	Confidence float64 `json:"confidence"`
	// Reinstall is set when the device had an earlier install of the
	// project (PreviousInstallID, the latest of them).
	Reinstall         bool   `json:"reinstall,omitempty"`
	PreviousInstallID string `json:"previous_install_id,omitempty"`
	// Contributors are up to 3 other clicks that could have won.
	Contributors []Contributor `json:"contributors,omitempty"`
	// Candidates are every click considered and what became of it.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Retracts is the version this one replaces (a correction); sinks and
	// postbacks retract it and state this one.
	Retracts     *DecisionRef `json:"retracts,omitempty"`
	RulesVersion string       `json:"rules_version"`
	// RequestID is the install request the decision was made for.
	RequestID string `json:"request_id"`
	// OpenedAt, OpenRequestID and Reengagement describe an app open
	// (Kind app_open).
	OpenedAt      time.Time `json:"opened_at,omitzero"`
	OpenRequestID string    `json:"open_request_id,omitempty"`
	Reengagement  bool      `json:"reengagement,omitempty"`
}

// DecisionRef names an earlier decision version.
type DecisionRef struct {
	ID         string `json:"id"`
	Version    int    `json:"version"`
	Source     string `json:"source"`
	CampaignID string `json:"campaign_id,omitempty"`
	ClickID    string `json:"click_id,omitempty"`
}

// Contributor is a click that could have won but did not.
type Contributor struct {
	ClickID    string    `json:"click_id"`
	CampaignID string    `json:"campaign_id,omitempty"`
	Network    string    `json:"network,omitempty"`
	MatchType  string    `json:"match_type"`
	ClickedAt  time.Time `json:"clicked_at"`
}

// Candidate is one click a decision considered: its outcome is "won",
// "contributor" or "lost", Reason says why it did not win.
type Candidate struct {
	ClickID    string    `json:"click_id"`
	CampaignID string    `json:"campaign_id,omitempty"`
	Network    string    `json:"network,omitempty"`
	MatchType  string    `json:"match_type"`
	Tier       int       `json:"tier"`
	ClickedAt  time.Time `json:"clicked_at,omitzero"`
	Outcome    string    `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
}

// Summary is the decision without its explanation: what install-attributed
// and the jobs carry.
func (d Decision) Summary() Decision {
	d.Candidates = nil
	return d
}

// Ref names the decision.
func (d Decision) Ref() *DecisionRef {
	r := &DecisionRef{ID: d.ID, Version: d.Version, Source: d.Source, ClickID: d.ClickID}
	if d.Campaign != nil {
		r.CampaignID = d.Campaign.ID
	}
	return r
}

// Job kinds (Job.Kind).
const (
	JobPostback  = "postback"
	JobAnalytics = "analytics"
)

// Job asks the postback role to tell an ad network (postback) or the
// project's analytics tools (analytics) about an install's decision or an
// event, on topics `postbacks` and `analytics` keyed
// project:install_instance_id. ID derives from the content (decision id,
// kind, destination), so a re-sent job is recognised.
type Job struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	// Event is "install" for a decision.
	Event string `json:"event"`
	// Network is the ad network a postback goes to.
	Network string `json:"network,omitempty"`
	// Retraction is set on the job that withdraws an earlier decision's
	// postback or analytics row (Decision is then the withdrawn one).
	Retraction bool      `json:"retraction,omitempty"`
	Decision   Decision  `json:"decision"`
	At         time.Time `json:"at"`
}

// DeviceInstall is a decision as seen from one of the install's device ids,
// on topic `device-decisions` keyed project:device id: the decisions
// projection re-keys `attributions` so the device-installs projection can
// answer "which installs has this device had".
type DeviceInstall struct {
	ProjectID   string    `json:"project_id"`
	Device      string    `json:"device"`
	InstallID   string    `json:"install_instance_id"`
	InstalledAt time.Time `json:"installed_at"`
	DecisionID  string    `json:"decision_id"`
	Version     int       `json:"version"`
	Source      string    `json:"source"`
	CampaignID  string    `json:"campaign_id,omitempty"`
	Reinstall   bool      `json:"reinstall,omitempty"`
}

// DeviceInstalls is the device-installs projection's value for one device:
// its installs, oldest first, each with its latest decision (at most
// MaxDeviceInstalls; Dropped counts the oldest ones let go).
type DeviceInstalls struct {
	Installs []DeviceInstall `json:"installs"`
	Dropped  int             `json:"dropped,omitempty"`
}

// MaxDeviceInstalls bounds DeviceInstalls.Installs.
const MaxDeviceInstalls = 50

// Identifiers are what an install can be matched by, read once from its
// first init's device_data.
type Identifiers struct {
	// Devices are the advertising and vendor ids (GAID, IDFA, IDFV), lower
	// case.
	Devices []string `json:"devices,omitempty"`
	// ClickID is the lr_ia_id the install referrer (or the SDK) carried.
	ClickID string `json:"click_id,omitempty"`
	IP      string `json:"ip,omitempty"`
	// ATTAuthorized is set when an iOS install says tracking is allowed.
	ATTAuthorized bool `json:"att_authorized,omitempty"`
	// InstallBegin is the Play install_begin time, when sent.
	InstallBegin time.Time `json:"install_begin,omitzero"`
}

// InstallState is the attribution group's table value for one install.
type InstallState struct {
	// Install is the first init without its device_data and extra keys
	// (they stay on the installs topic); Identifiers holds what was read
	// from them.
	Install     Install     `json:"install"`
	Identifiers Identifiers `json:"identifiers,omitzero"`
	// Decision is the current decision; Version 0 until the first.
	Decision Decision `json:"decision"`
	// Retracted is the summary of the version the current decision
	// replaced, so its retraction jobs can be sent again after a crash.
	Retracted *Decision `json:"retracted,omitempty"`
	// Explanation is the candidate list of the latest evaluation when it
	// differs from the current decision's but its outcome did not change
	// (a new candidate that lost): the decision as sent is left as it was.
	Explanation []Candidate `json:"explanation,omitempty"`
	// Waiting lists the replies the next decision waits for:
	// "device:<touchpoint key>" and "ip:<touchpoint key>" for match
	// requests, "claim:<click id>" for claims.
	Waiting []string `json:"waiting,omitempty"`
	// Candidates are the clicks found so far, with their claim status.
	Candidates []ClickCandidate `json:"candidates,omitempty"`
	// Direct is the lr_ia_id the install carried.
	Direct string `json:"direct,omitempty"`
	// Priors are earlier installs on the install's device keys.
	Priors []InstallRef `json:"priors,omitempty"`
	// IPClicks is, per IP key, how many clicks it holds in the window.
	IPClicks map[string]int `json:"ip_clicks,omitempty"`
	// Opens counts later inits of the install (app opens).
	Opens      int       `json:"opens"`
	LastOpenAt time.Time `json:"last_open_at,omitzero"`
	// Displaced are the inits an earlier init took the install from (they
	// became app opens), so that the app-open record of one is sent again
	// when the init that displaced it is delivered again.
	Displaced []DisplacedInit `json:"displaced,omitempty"`
	// Absorbed is, per input topic, the highest offset whose effect is in
	// this state: a re-delivered input at or below it is recognised after a
	// crash and its outputs are re-sent instead of applying it twice.
	Absorbed map[string]int64 `json:"absorbed"`
}

// DisplacedInit is an init that was taken for the install until an earlier
// one (request id By) was published.
type DisplacedInit struct {
	By         string    `json:"by"`
	RequestID  string    `json:"request_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// ClickCandidate is a click found for an install and where its claim
// stands: "" (not claimed), "claiming" (asked) or a claim status.
type ClickCandidate struct {
	Click     ClickRef `json:"click"`
	MatchType string   `json:"match_type"`
	Key       string   `json:"key,omitempty"`
	Claim     string   `json:"claim,omitempty"`
	Holder    string   `json:"holder,omitempty"`
}

// Catalog entry kinds (CatalogEntry.Kind) and the key prefixes of topic
// `catalog`.
const (
	CatalogKindProject  = "project"
	CatalogKindCampaign = "campaign"
	CatalogKindDomain   = "domain"
	CatalogKindToken    = "token"
	CatalogKindAPIKey   = "apikey"
	// CatalogKindWebKey entries are keyed by a web collector key id (not
	// secret) and say which project holds the key.
	CatalogKindWebKey = "webkey"
	// CatalogKindDisplay entries are keyed by a click link's display id
	// and name the current campaign that has it (CatalogEntry.Display).
	CatalogKindDisplay = "display"
)

// CatalogEntry is one value of the compacted topic `catalog`, keyed
// "<kind>:<id>" (project:ID, campaign:ID, domain:HOST, token:sha256(T),
// apikey:sha256(K), webkey:KEY_ID). Exactly the payload of its kind is set. Dated
// settings are carried as their whole history (JSON arrays of spans
// {from, until, value}, oldest first) back to the replay horizon, so a
// reader can look a setting up as of any time after it. Values carry no
// secret and no third-party credential: tokens and server keys appear only
// as the SHA-256 in the key. A tombstone (nil value) removes a rotated
// token or server key.
type CatalogEntry struct {
	Kind string `json:"kind"`
	// ID is the project or campaign id, the domain's host, the
	// lowercase hex SHA-256 of the token or server key, or the web
	// collector key id.
	ID string `json:"id"`
	// Version is the entity's catalog version (for token, apikey and
	// webkey entries, their project's); the writer never replaces an entry with
	// a lower version.
	Version int64 `json:"version"`
	// Revision is the catalog store's write revision, when known.
	Revision    int64            `json:"revision,omitempty"`
	PublishedAt time.Time        `json:"published_at"`
	Project     *CatalogProject  `json:"project,omitempty"`
	Campaign    *CatalogCampaign `json:"campaign,omitempty"`
	Domain      *CatalogDomain   `json:"domain,omitempty"`
	// Secret is set for token, apikey and webkey entries.
	Secret *CatalogSecret `json:"secret,omitempty"`
	// Display is set for display entries.
	Display *CatalogDisplay `json:"display,omitempty"`
}

// CatalogDisplay names the campaign a display id belongs to. Its entry
// carries the campaign's version; readers check the campaign's own entry
// (the display id of its spec in force), so a stale one never resolves.
type CatalogDisplay struct {
	CampaignID string `json:"campaign_id"`
	ProjectID  string `json:"project_id"`
}

// CatalogProject is a project's non-secret part.
type CatalogProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Settings are the project's dated settings, an object of histories
	// (docs/catalog.md).
	Settings json.RawMessage `json:"settings"`
	// Signing is the project's SDK request signing per platform, its
	// secrets sealed with the catalog key (catalog.Sealer); absent when the
	// project has none.
	Signing map[string]CatalogSigning `json:"sdk_signing,omitempty"`
	// WebKeys are the web collector's keys, their private keys sealed
	// with the catalog key for (project, "web:"+key id); absent when the
	// project has none.
	WebKeys []CatalogWebKey `json:"web_collector,omitempty"`
}

// CatalogWebKey is a web collector key id and its sealed private key
// (empty when the writer had no catalog key).
type CatalogWebKey struct {
	KeyID  string `json:"key_id"`
	Active bool   `json:"active"`
	Sealed string `json:"sealed,omitempty"`
}

// CatalogSigning is one platform's signing rule and keys.
type CatalogSigning struct {
	Enforce bool                `json:"enforce"`
	Keys    []CatalogSigningKey `json:"keys,omitempty"`
}

// CatalogSigningKey is a signing key id and its sealed secret (empty when
// the writer had no catalog key: gateways then refuse requests that need
// the key).
type CatalogSigningKey struct {
	KeyID  string `json:"key_id"`
	Active bool   `json:"active"`
	Sealed string `json:"sealed,omitempty"`
}

// CatalogCampaign is a campaign and its dated spec.
type CatalogCampaign struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	// Spec is the spec history.
	Spec json.RawMessage `json:"spec"`
}

// CatalogDomain is a branded host and its dated spec.
type CatalogDomain struct {
	Host string `json:"host"`
	// Spec is the spec history.
	Spec json.RawMessage `json:"spec"`
}

// CatalogSecret says whose credential a token, apikey or webkey entry
// is.
type CatalogSecret struct {
	ProjectID string `json:"project_id"`
	// Kind is "token", "server_key" or "web_key".
	Kind string `json:"kind"`
}

// Event kinds (Event.Kind): one per client API call other than init.
const (
	EventSignup            = "signup"             // trigger
	EventCustom            = "custom"             // capture-event
	EventPayment           = "payment"            // capture-payment
	EventPaymentRemoved    = "payment_removed"    // remove-captured-payment
	EventUserData          = "user_data"          // set-user-data
	EventPushToken         = "push_token"         // update-push-token
	EventIntegrations      = "integrations"       // integrations
	EventDeeplink          = "deeplink"           // handle-deeplink
	EventCustomerUserID    = "customer_user_id"   // customer-user-id
	EventDeeplinkTriggered = "deeplink_triggered" // legacy deeplink-triggered
	EventWebPageView       = "web_page_view"      // web collector page_view
	EventWebCustom         = "web_custom"         // web collector custom
	EventWebIdentify       = "web_identify"       // web collector identify
)

// Event is one client API call other than init, as accepted by the
// gateway. It travels on topic `events` keyed project:install_instance_id,
// except payments with a payment_id, which go to `payment-keys` keyed
// project:type:payment_id so the first of them wins. Web collector events
// are keyed project:web:visitor_id and their InstallID is web:visitor_id.
type Event struct {
	// RequestID is the gateway's id of the request; with ReceivedAt it
	// orders events and deduplicates a request published twice.
	RequestID string `json:"request_id"`
	Kind      string `json:"kind"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	// MintedID is set when the SDK sent no usable install id.
	MintedID bool   `json:"minted_id,omitempty"`
	Platform string `json:"platform,omitempty"`
	// EventName is the app's event name (custom events), "SIGNUP" for a
	// sign-up.
	EventName string `json:"event_name,omitempty"`
	// EventID is the app's deduplication key of a custom event.
	EventID string `json:"event_id,omitempty"`
	UserID  string `json:"user_id,omitempty"`
	// Data is event_data (custom events and payments) or data (sign-ups),
	// always an object.
	Data       json.RawMessage `json:"data,omitempty"`
	UserData   json.RawMessage `json:"user_data,omitempty"`
	DeviceData json.RawMessage `json:"device_data,omitempty"`
	Payment    *Payment        `json:"payment,omitempty"`
	PushToken  string          `json:"push_token,omitempty"`
	// Integrations is integration_info (e.g. clevertap_id).
	Integrations json.RawMessage `json:"integrations,omitempty"`
	DeeplinkURL  string          `json:"deeplink_url,omitempty"`
	// TimeSinceInstall is time_since_app_install in seconds, when sent.
	TimeSinceInstall *float64 `json:"time_since_app_install,omitempty"`
	// ClientTime is the SDK's own timestamp (handle-deeplink), when sent.
	ClientTime *time.Time `json:"client_time,omitempty"`
	// Extra holds the body's other keys, unchanged (never the token).
	Extra     json.RawMessage `json:"extra,omitempty"`
	ClientIP  string          `json:"client_ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	// ReceivedAt is the gateway's clock when it accepted the request.
	ReceivedAt time.Time `json:"received_at"`
}

// UserLink ties a customer user id to an install or a web visitor, on
// topic `user-links` keyed project:user_id.
type UserLink struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	// InstallID is set for an app install, VisitorID for a web visitor.
	InstallID string `json:"install_instance_id,omitempty"`
	VisitorID string `json:"visitor_id,omitempty"`
	// Source says where the link was made: "web" (web collector identify).
	Source     string    `json:"source"`
	RequestID  string    `json:"request_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// Payment is the payment of a capture-payment or remove-captured-payment
// call.
type Payment struct {
	PaymentID string  `json:"payment_id,omitempty"`
	Amount    float64 `json:"amount"`
	// Type defaults to DEFAULT, Status to PAYMENT_COMPLETED.
	Type   string `json:"type,omitempty"`
	Status string `json:"status,omitempty"`
}

// Click is one recorded click on a tracking link or a web page view that
// carries click ids, on topic `clicks` keyed by its click id (lr_ia_id).
type Click struct {
	ClickID    string `json:"click_id"`
	ProjectID  string `json:"project_id"`
	CampaignID string `json:"campaign_id,omitempty"`
	// Source says how it was recorded: "page_view" (capture-page-view),
	// "link" (click link), "web" (web collector).
	Source    string `json:"source"`
	URL       string `json:"url,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
	Platform  string `json:"platform,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// OS, Device and Browser are read from UserAgent (OS "Android",
	// "iOS", "iPadOS", "Windows", "macOS", ...; Device the model when the
	// agent names one; Browser "Chrome", "Safari", "Instagram", ...).
	OS             string `json:"os,omitempty"`
	OSVersion      string `json:"os_version,omitempty"`
	Device         string `json:"device,omitempty"`
	Browser        string `json:"browser,omitempty"`
	BrowserVersion string `json:"browser_version,omitempty"`
	// VisitorID and SessionID are the web SDK's ids (web collector).
	VisitorID string `json:"visitor_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// Geo is where ClientIP is, when a GeoIP database is configured.
	Geo Geo `json:"geo,omitzero"`
	// Params are the click ids and UTM parameters found (gclid, fbclid,
	// utm_source, ...).
	Params     map[string]string `json:"params,omitempty"`
	RequestID  string            `json:"request_id"`
	ReceivedAt time.Time         `json:"received_at"`
}

// Geo is the location of an IP address (ISO 3166-1 alpha-2 country, the
// first subdivision's ISO code and name, the city's English name).
type Geo struct {
	Country    string `json:"country,omitempty"`
	Region     string `json:"region,omitempty"`
	RegionName string `json:"region_name,omitempty"`
	City       string `json:"city,omitempty"`
}
