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
	ClientIP       string          `json:"client_ip,omitempty"`
	UserAgent      string          `json:"user_agent,omitempty"`
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

// Decision is one version of the attribution decision of an install, on
// topic `attributions` and in the `decisions` projection, keyed
// project:install_instance_id.
type Decision struct {
	// ID is derived from the content (project, install, version), so a
	// re-emitted decision carries the same id.
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	InstallID string `json:"install_instance_id"`
	Version   int    `json:"version"`
	// Source is the attribution source the SDK sees ("ORGANIC", "META", ...).
	Source       string    `json:"source"`
	MatchType    string    `json:"match_type"`
	Tier         int       `json:"tier"`
	Campaign     *Campaign `json:"campaign,omitempty"`
	Deeplink     string    `json:"deeplink,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	InstalledAt  time.Time `json:"installed_at"`
	RulesVersion string    `json:"rules_version"`
	// RequestID is the install request the decision was made for.
	RequestID string `json:"request_id"`
}

// InstallState is the attribution group's table value for one install.
type InstallState struct {
	Install  Install  `json:"install"`
	Decision Decision `json:"decision"`
	// Opens counts later inits of the decided install (app opens).
	Opens      int       `json:"opens"`
	LastOpenAt time.Time `json:"last_open_at,omitzero"`
	// Absorbed is, per input topic, the highest offset whose effect is in
	// this state: a re-delivered input at or below it is recognised after a
	// crash and its outputs are re-sent instead of applying it twice.
	Absorbed map[string]int64 `json:"absorbed"`
}
