package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// The catalog model: plain values, no storage. Every entity has an id and a
// Version that every write bumps (the catalog writer refuses to publish a
// version older than the one it last published). Settings that affect
// decisions are Histories, looked up as of an install's event time;
// secrets and credentials are current-only.
//
// JSON names below are also the YAML names of docs/catalog.md.

// Platform is a mobile platform as the SDKs name it.
type Platform string

// The platforms.
const (
	Android Platform = "ANDROID"
	IOS     Platform = "IOS"
)

// Platforms lists every platform.
var Platforms = []Platform{Android, IOS}

// Well-known networks (ad networks are upper case, as in attribution_source).
const (
	NetworkMeta           = "META"
	NetworkGoogle         = "GOOGLE"
	NetworkTikTok         = "TIKTOK"
	NetworkSnapchat       = "SNAPCHAT"
	NetworkAppleSearchAds = "APPLE_SEARCH_ADS"
)

// ProjectRecord is a project with everything the catalog holds about it.
type ProjectRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
	// Secrets are current-only; their old values are not kept (a rotation
	// keeps only the old value's hash, see Rotation).
	Secrets Secrets `json:"secrets"`
	// Settings are dated.
	Settings Settings `json:"settings"`
}

// Project is the gateway's view of the record.
func (p ProjectRecord) Project() Project {
	return Project{ID: p.ID, Name: p.Name, Token: p.Secrets.Token, ServerKey: p.Secrets.ServerKey, Signing: p.Secrets.Signing,
		WebKeys: p.Secrets.WebCollector.Keys}
}

// Secrets are a project's credentials: its own (token, server key, SDK
// signing keys, webhook secret) and third parties' (Meta install-referrer
// key, analytics tools).
type Secrets struct {
	// Token is the client token SDKs send in request bodies.
	Token string `json:"token" yaml:"token"`
	// ServerKey authenticates the server API (header linkrunner-key).
	ServerKey string `json:"server_key" yaml:"server_key"`
	// Signing holds the SDK request-signing keys per platform.
	Signing map[Platform]Signing `json:"sdk_signing,omitempty" yaml:"sdk_signing"`
	// WebCollector holds the keys that open the web SDK's sealed bodies.
	WebCollector WebCollector `json:"web_collector,omitzero" yaml:"web_collector"`
	// MetaInstallReferrerKey decrypts Meta's install referrer (hex, 32 bytes).
	MetaInstallReferrerKey string `json:"meta_install_referrer_key,omitempty" yaml:"meta_install_referrer_key"`
	// Webhook receives the project's events, signed with its secret.
	Webhook *Webhook `json:"webhook,omitempty" yaml:"webhook"`
	// Analytics are the analytics tools events are forwarded to.
	Analytics Analytics `json:"analytics,omitzero" yaml:"analytics"`
}

// Signing is one platform's SDK request signing (sdk-contract §3).
type Signing struct {
	// Enforce rejects unsigned or badly signed requests from this platform.
	Enforce bool         `json:"enforce" yaml:"enforce"`
	Keys    []SigningKey `json:"keys,omitempty" yaml:"keys"`
}

// SigningKey is one SDK signing credential.
type SigningKey struct {
	KeyID  string `json:"key_id" yaml:"key_id"`
	Secret string `json:"secret" yaml:"secret"`
	Active bool   `json:"active" yaml:"active"`
}

// WebCollector is the web collector's decryption keys (sdk-contract §6:
// the web SDK may seal its body for a key id and public key). Key ids are
// unique across all projects: an envelope names only its key id, and the
// gateway finds the project by it.
type WebCollector struct {
	Keys []WebKey `json:"keys,omitempty" yaml:"keys"`
}

// WebKey is one web collector key: a P-256 private key, its 32-byte
// scalar in base64url (the page configures the matching public key).
// Only active keys open envelopes.
type WebKey struct {
	KeyID      string `json:"key_id" yaml:"key_id"`
	PrivateKey string `json:"private_key" yaml:"private_key"`
	Active     bool   `json:"active" yaml:"active"`
}

// WebKeySealID is the key id a web collector key is sealed for in the
// catalog topic (catalog.Sealer), apart from SDK signing key ids.
func WebKeySealID(keyID string) string { return "web:" + keyID }

// Webhook is a customer webhook.
type Webhook struct {
	URL    string `json:"url" yaml:"url"`
	Secret string `json:"secret" yaml:"secret"`
}

// Analytics holds the credentials of each analytics tool a project forwards
// to; nil means off. Fields follow reference/integrations.md §7–13.
type Analytics struct {
	Mixpanel  *Mixpanel  `json:"mixpanel,omitempty" yaml:"mixpanel"`
	Amplitude *Amplitude `json:"amplitude,omitempty" yaml:"amplitude"`
	PostHog   *PostHog   `json:"posthog,omitempty" yaml:"posthog"`
	CleverTap *CleverTap `json:"clevertap,omitempty" yaml:"clevertap"`
	MoEngage  *MoEngage  `json:"moengage,omitempty" yaml:"moengage"`
	Braze     *Braze     `json:"braze,omitempty" yaml:"braze"`
	GA4       *GA4       `json:"ga4,omitempty" yaml:"ga4"`
}

// Mixpanel: /import with a service account (Basic user:secret) and the
// project id; the project token goes into each event.
type Mixpanel struct {
	ProjectID      string `json:"project_id" yaml:"project_id"`
	Token          string `json:"token" yaml:"token"`
	ServiceAccount string `json:"service_account,omitempty" yaml:"service_account"`
	Secret         string `json:"secret,omitempty" yaml:"secret"`
	// Region is "us" (default, api.mixpanel.com), "eu" or "in".
	Region string `json:"region,omitempty" yaml:"region"`
}

// Amplitude: HTTP V2 and Identify with the API key in the body.
type Amplitude struct {
	APIKey string `json:"api_key" yaml:"api_key"`
	// Region is "us" (default) or "eu".
	Region string `json:"region,omitempty" yaml:"region"`
}

// PostHog: the project key (phc_…) and the host (https://us.i.posthog.com,
// https://eu.i.posthog.com or a self-hosted URL).
type PostHog struct {
	APIKey string `json:"api_key" yaml:"api_key"`
	Host   string `json:"host" yaml:"host"`
}

// CleverTap: account id and passcode headers; the region prefix of the host.
type CleverTap struct {
	AccountID string `json:"account_id" yaml:"account_id"`
	Passcode  string `json:"passcode" yaml:"passcode"`
	// Region is one of eu1 (default), in1, sg1, us1, aps3, mec1.
	Region string `json:"region,omitempty" yaml:"region"`
}

// MoEngage: Basic auth workspace id (formerly app id) : data API key, on the
// workspace's data center api-0N.moengage.com.
type MoEngage struct {
	WorkspaceID string `json:"workspace_id" yaml:"workspace_id"`
	DataAPIKey  string `json:"data_api_key" yaml:"data_api_key"`
	// DataCenter is 1 to 6 (DC-01 … DC-06).
	DataCenter int `json:"data_center" yaml:"data_center"`
	// ProjectCode is needed by portfolio workspaces only.
	ProjectCode string `json:"project_code,omitempty" yaml:"project_code"`
}

// Braze: a REST API key with users.track (and users.export.ids) and the
// instance's REST endpoint, e.g. https://rest.iad-01.braze.com.
type Braze struct {
	APIKey       string `json:"api_key" yaml:"api_key"`
	RESTEndpoint string `json:"rest_endpoint" yaml:"rest_endpoint"`
}

// GA4: Measurement Protocol; app streams use the Firebase app id, web
// streams the measurement id; the API secret is per data stream.
type GA4 struct {
	FirebaseAppID string `json:"firebase_app_id,omitempty" yaml:"firebase_app_id"`
	MeasurementID string `json:"measurement_id,omitempty" yaml:"measurement_id"`
	APISecret     string `json:"api_secret" yaml:"api_secret"`
}

// Settings are a project's decision-affecting settings, each with its own
// dated history. A time at which a setting has no value uses its default.
type Settings struct {
	Windows      History[Windows]    `json:"windows"`
	IPMatching   History[IPMatching] `json:"ip_matching"`
	Reengagement History[Duration]   `json:"reengagement_window"`
	Fraud        History[FraudRules] `json:"fraud"`
	SKAN         History[SKANRules]  `json:"skan"`
	Currency     History[string]     `json:"reporting_currency"`
	// ClientRateLimit is the client API's limit in requests per second,
	// per token and per client address (0: the gateway's default).
	ClientRateLimit History[int] `json:"client_rate_limit"`
}

// Effective are the settings in effect at one time.
type Effective struct {
	Windows      Windows
	IPMatching   IPMatching
	Reengagement Duration
	Fraud        FraudRules
	SKAN         SKANRules
	Currency     string
	// ClientRateLimit is 0 when the project sets none.
	ClientRateLimit int
}

// Defaults used where a setting has no value.
const (
	DefaultDeviceClickWindow   = Duration(7 * Day)
	DefaultReferrerClickWindow = Duration(7 * Day)
	DefaultIPWindow            = Duration(24 * time.Hour)
	DefaultReengagementWindow  = Duration(7 * Day)
	DefaultCurrency            = "USD"
)

// DefaultEffective are the settings of a project that set none.
func DefaultEffective() Effective {
	return Effective{
		Reengagement: DefaultReengagementWindow,
		Fraud: FraudRules{
			MinClickToInstall:            Duration(10 * time.Second),
			IPFloodClicks:                100,
			IPFloodWindow:                Duration(time.Hour),
			RejectClickAfterInstallBegin: true,
		},
		Currency: DefaultCurrency,
	}
}

// At returns the settings in effect at t, defaults filling the gaps.
func (s Settings) At(t time.Time) Effective {
	e := DefaultEffective()
	if v, ok := s.Windows.At(t); ok {
		e.Windows = v
	}
	if v, ok := s.IPMatching.At(t); ok {
		e.IPMatching = v
	}
	if v, ok := s.Reengagement.At(t); ok {
		e.Reengagement = v
	}
	if v, ok := s.Fraud.At(t); ok {
		e.Fraud = v
	}
	if v, ok := s.SKAN.At(t); ok {
		e.SKAN = v
	}
	if v, ok := s.Currency.At(t); ok {
		e.Currency = v
	}
	if v, ok := s.ClientRateLimit.At(t); ok {
		e.ClientRateLimit = v
	}
	return e
}

// Trim drops every setting's spans that ended by horizon.
func (s *Settings) Trim(horizon time.Time) {
	s.Windows.Trim(horizon)
	s.IPMatching.Trim(horizon)
	s.Reengagement.Trim(horizon)
	s.Fraud.Trim(horizon)
	s.SKAN.Trim(horizon)
	s.Currency.Trim(horizon)
	s.ClientRateLimit.Trim(horizon)
}

// WindowSet are attribution look-back windows; zero means "inherit" (a
// network's zero inherits the project's default, the default's zero the
// built-in default).
type WindowSet struct {
	DeviceClick   Duration `json:"device_click,omitempty" yaml:"device_click"`
	ReferrerClick Duration `json:"referrer_click,omitempty" yaml:"referrer_click"`
	IP            Duration `json:"ip,omitempty" yaml:"ip"`
}

// Windows are a project's windows: a default and overrides per network.
type Windows struct {
	Default  WindowSet            `json:"default,omitzero" yaml:"default"`
	Networks map[string]WindowSet `json:"networks,omitempty" yaml:"networks"`
}

// For returns the windows that apply to network, every field resolved.
func (w Windows) For(network string) WindowSet {
	out := WindowSet{DefaultDeviceClickWindow, DefaultReferrerClickWindow, DefaultIPWindow}
	for _, ws := range []WindowSet{w.Default, w.Networks[network]} {
		if ws.DeviceClick != 0 {
			out.DeviceClick = ws.DeviceClick
		}
		if ws.ReferrerClick != 0 {
			out.ReferrerClick = ws.ReferrerClick
		}
		if ws.IP != 0 {
			out.IP = ws.IP
		}
	}
	return out
}

// IPMatching is the IP-matching policy. The zero value matches by IP on
// every platform.
type IPMatching struct {
	// Disabled turns IP matching off.
	Disabled bool `json:"disabled,omitempty" yaml:"disabled"`
	// DisabledPlatforms turns it off for some platforms.
	DisabledPlatforms []Platform `json:"disabled_platforms,omitempty" yaml:"disabled_platforms"`
	// IOSRequireATT turns it off for iOS installs without ATT consent.
	IOSRequireATT bool `json:"ios_require_att,omitempty" yaml:"ios_require_att"`
}

// Allowed reports whether an install on platform p (with or without ATT
// consent) may be matched by IP.
func (m IPMatching) Allowed(p Platform, attAuthorized bool) bool {
	if m.Disabled {
		return false
	}
	for _, d := range m.DisabledPlatforms {
		if d == p {
			return false
		}
	}
	return !(p == IOS && m.IOSRequireATT && !attAuthorized)
}

// FraudRules are the fraud thresholds. A version replaces all of them: a
// field left out is off.
type FraudRules struct {
	// MinClickToInstall rejects clicks less than this before the install
	// (0: off).
	MinClickToInstall Duration `json:"min_click_to_install,omitempty" yaml:"min_click_to_install"`
	// IPFloodClicks clicks from one IP within IPFloodWindow flag it as
	// flooding; IP matches on it are rejected (0: off).
	IPFloodClicks int      `json:"ip_flood_clicks,omitempty" yaml:"ip_flood_clicks"`
	IPFloodWindow Duration `json:"ip_flood_window,omitempty" yaml:"ip_flood_window"`
	// RejectClickAfterInstallBegin rejects clicks later than the Play
	// install_begin time.
	RejectClickAfterInstallBegin bool `json:"reject_click_after_install_begin,omitempty" yaml:"reject_click_after_install_begin"`
}

// Coarse is a SKAdNetwork coarse conversion value.
type Coarse string

// The coarse values.
const (
	CoarseLow    Coarse = "low"
	CoarseMedium Coarse = "medium"
	CoarseHigh   Coarse = "high"
)

// SKANRules map app events to SKAdNetwork conversion values.
type SKANRules struct {
	Rules []SKANRule `json:"rules,omitempty" yaml:"rules"`
	// LockWindow locks the conversion value this long after install (0: never).
	LockWindow Duration `json:"lock_window,omitempty" yaml:"lock_window"`
}

// SKANRule maps an event (and optionally a revenue range in the reporting
// currency, min inclusive, max exclusive) to conversion values.
type SKANRule struct {
	// Event is the app event name; empty matches every event.
	Event      string   `json:"event,omitempty" yaml:"event"`
	MinRevenue *float64 `json:"min_revenue,omitempty" yaml:"min_revenue"`
	MaxRevenue *float64 `json:"max_revenue,omitempty" yaml:"max_revenue"`
	Fine       int      `json:"fine" yaml:"fine"`
	Coarse     Coarse   `json:"coarse" yaml:"coarse"`
}

// Match returns the rule with the highest fine value that matches event
// and revenue (fine values never decrease, so the highest match counts).
func (r SKANRules) Match(event string, revenue float64) (SKANRule, bool) {
	var best SKANRule
	found := false
	for _, rule := range r.Rules {
		if rule.Event != "" && rule.Event != event {
			continue
		}
		if rule.MinRevenue != nil && revenue < *rule.MinRevenue {
			continue
		}
		if rule.MaxRevenue != nil && revenue >= *rule.MaxRevenue {
			continue
		}
		if !found || rule.Fine > best.Fine {
			best, found = rule, true
		}
	}
	return best, found
}

// Campaign is a campaign and its dated spec. A deleted campaign's spec has
// ended; the campaign is kept so installs before the end still resolve.
type Campaign struct {
	ID        string                `json:"id"`
	ProjectID string                `json:"project_id"`
	Version   int64                 `json:"version"`
	Spec      History[CampaignSpec] `json:"spec"`
}

// CampaignSpec is what a campaign says at one time.
type CampaignSpec struct {
	Name string `json:"name" yaml:"name"`
	// DisplayID is the public id in click links (/c/{display_id}); unique
	// among current campaigns.
	DisplayID string `json:"display_id" yaml:"display_id"`
	// Network is the ad network (META, GOOGLE, …); empty for owned media.
	Network string `json:"network,omitempty" yaml:"network"`
	// NetworkCampaignIDs are the network's ids of this campaign.
	NetworkCampaignIDs []string `json:"network_campaign_ids,omitempty" yaml:"network_campaign_ids"`
	Deeplink           string   `json:"deeplink,omitempty" yaml:"deeplink"`
	// StoreURLs are the store listing per platform.
	StoreURLs map[Platform]string `json:"store_urls,omitempty" yaml:"store_urls"`
	// DesktopURL is where desktop visitors of a click link go.
	DesktopURL string `json:"desktop_url,omitempty" yaml:"desktop_url"`
}

// Domain is a branded click-link host and its dated spec.
type Domain struct {
	Host    string              `json:"host"`
	Version int64               `json:"version"`
	Spec    History[DomainSpec] `json:"spec"`
}

// DomainSpec is what a domain serves at one time.
type DomainSpec struct {
	ProjectID string `json:"project" yaml:"project"`
	// DefaultCampaign (an id) receives clicks on the bare host.
	DefaultCampaign string `json:"default_campaign,omitempty" yaml:"default_campaign"`
}

// NetworkAccount holds a project's credentials at one ad network
// (current-only; never published to the catalog topic).
type NetworkAccount struct {
	ID          string            `json:"id"`
	ProjectID   string            `json:"project_id"`
	Network     string            `json:"network"`
	Version     int64             `json:"version"`
	Credentials map[string]string `json:"credentials"`
}

// EventMap maps a project's app events to a network's event names for
// postbacks, dated. Its id is ProjectID:Network.
type EventMap struct {
	ProjectID string                     `json:"project_id"`
	Network   string                     `json:"network"`
	Version   int64                      `json:"version"`
	Events    History[map[string]string] `json:"events"`
}

// ID is the event map's id.
func (m EventMap) ID() string { return m.ProjectID + ":" + m.Network }

// Rotation records a replaced token or server key: only its hash, so the
// writer can tombstone the old token:/apikey: key.
type Rotation struct {
	ProjectID string    `json:"project_id"`
	Kind      Kind      `json:"kind"`
	SHA256    string    `json:"sha256"`
	RotatedAt time.Time `json:"rotated_at"`
}

// Kind names a rotatable secret.
type Kind string

// The rotatable secrets.
const (
	KindToken     Kind = "token"
	KindServerKey Kind = "server_key"
)

// HashSecret is the lowercase hex SHA-256 of a secret, as the catalog topic
// keys it.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Longest is the longest window of any kind and network: how long a click
// can matter.
func (w Windows) Longest() Duration {
	var out Duration
	sets := []WindowSet{w.For("")}
	for n := range w.Networks {
		sets = append(sets, w.For(n))
	}
	for _, ws := range sets {
		out = max(out, ws.DeviceClick, ws.ReferrerClick, ws.IP)
	}
	return out
}
