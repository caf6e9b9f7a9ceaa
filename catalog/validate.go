package catalog

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validation: every Validate names each bad field on its own line (an
// errors.Join), with the field's name as written in docs/catalog.md.

var (
	idRE        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	networkRE   = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	displayIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	hostRE      = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	currencyRE  = regexp.MustCompile(`^[A-Z]{3}$`)
	schemeRE    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*$`)
)

// minSecretLen is the shortest accepted client token or server key.
const minSecretLen = 16

// NetworkCredentialKeys are the credentials a network account needs per
// known network; other networks take any non-empty credentials.
var NetworkCredentialKeys = map[string][]string{
	NetworkMeta:           {"dataset_id", "access_token"},
	NetworkGoogle:         {"link_id"},
	NetworkTikTok:         {"app_id", "access_token"},
	NetworkSnapchat:       {"snap_app_id", "access_token"},
	NetworkAppleSearchAds: {},
}

type verrs struct{ errs []error }

func (v *verrs) add(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (v *verrs) nest(prefix string, err error) {
	for _, e := range splitErrors(err) {
		v.errs = append(v.errs, fmt.Errorf("%s%w", prefix, e))
	}
}

func (v *verrs) err() error { return errors.Join(v.errs...) }

func (v *verrs) id(field, s string) {
	switch {
	case s == "":
		v.add(field, "is required")
	case !idRE.MatchString(s):
		v.add(field, "%q must be 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit", s)
	}
}

func (v *verrs) network(field, s string, optional bool) {
	switch {
	case s == "" && optional:
	case s == "":
		v.add(field, "is required")
	case !networkRE.MatchString(s):
		v.add(field, "%q must be an upper-case network name like META, GOOGLE or MY_AFFILIATE", s)
	}
}

func (v *verrs) required(field, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(field, "is required")
	}
}

func (v *verrs) httpURL(field, s string, optional bool) {
	if s == "" {
		if !optional {
			v.add(field, "is required")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(field, "%q is not an http(s) URL", s)
	}
}

func (v *verrs) platform(field string, p Platform) {
	if !slices.Contains(Platforms, p) {
		v.add(field, "unknown platform %q (known: ANDROID, IOS)", p)
	}
}

func (v *verrs) duration(field string, d Duration, max time.Duration) {
	if d < 0 || d.D() > max {
		v.add(field, "%s is not between 0 and %s", d, Duration(max))
	}
}

func sortedKeys[K ~string, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }

// Validate checks the project and everything in it.
func (p ProjectRecord) Validate() error {
	var v verrs
	v.id("id", p.ID)
	if len(p.Name) > 200 {
		v.add("name", "is longer than 200 characters")
	}
	if p.Version < 0 {
		v.add("version", "%d is negative", p.Version)
	}
	v.nest("", p.Secrets.Validate())
	v.nest("settings.", p.Settings.Validate())
	return v.err()
}

// Validate checks the secrets.
func (s Secrets) Validate() error {
	var v verrs
	secret := func(field, val string) {
		switch {
		case val == "":
			v.add(field, "is required")
		case len(val) < minSecretLen:
			v.add(field, "must be at least %d characters", minSecretLen)
		case strings.ContainsAny(val, " \t\r\n"):
			v.add(field, "must not contain white space")
		}
	}
	secret("token", s.Token)
	secret("server_key", s.ServerKey)
	if s.Token != "" && s.Token == s.ServerKey {
		v.add("server_key", "must differ from the token")
	}
	for _, p := range sortedKeys(s.Signing) {
		sg := s.Signing[p]
		f := fmt.Sprintf("sdk_signing.%s", p)
		v.platform(f, p)
		ids := map[string]bool{}
		active := 0
		for i, k := range sg.Keys {
			kf := fmt.Sprintf("%s.keys[%d]", f, i)
			v.required(kf+".key_id", k.KeyID)
			v.required(kf+".secret", k.Secret)
			if ids[k.KeyID] && k.KeyID != "" {
				v.add(kf+".key_id", "%q is listed twice", k.KeyID)
			}
			ids[k.KeyID] = true
			if k.Active {
				active++
			}
		}
		if sg.Enforce && active == 0 {
			v.add(f+".enforce", "needs at least one active key")
		}
	}
	ids := map[string]bool{}
	for i, k := range s.WebCollector.Keys {
		kf := fmt.Sprintf("web_collector.keys[%d]", i)
		switch {
		case k.KeyID == "":
			v.add(kf+".key_id", "is required")
		case len(k.KeyID) > 128 || strings.ContainsAny(k.KeyID, " \t\r\n"):
			v.add(kf+".key_id", "must be at most 128 characters without white space")
		case ids[k.KeyID]:
			v.add(kf+".key_id", "%q is listed twice", k.KeyID)
		}
		ids[k.KeyID] = true
		if err := checkWebPrivateKey(k.PrivateKey); err != nil {
			v.add(kf+".private_key", "%v", err)
		}
	}
	if k := s.MetaInstallReferrerKey; k != "" {
		if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
			v.add("meta_install_referrer_key", "must be 64 hex digits (a 32-byte key)")
		}
	}
	if w := s.Webhook; w != nil {
		v.httpURL("webhook.url", w.URL, false)
		if len(w.Secret) < minSecretLen {
			v.add("webhook.secret", "must be at least %d characters", minSecretLen)
		}
	}
	v.nest("analytics.", s.Analytics.Validate())
	return v.err()
}

// Validate checks each configured tool's credentials.
func (a Analytics) Validate() error {
	var v verrs
	oneOf := func(field, val string, allowed ...string) {
		if val != "" && !slices.Contains(allowed, val) {
			v.add(field, "%q is not one of %s", val, strings.Join(allowed, ", "))
		}
	}
	if m := a.Mixpanel; m != nil {
		v.required("mixpanel.project_id", m.ProjectID)
		v.required("mixpanel.token", m.Token)
		if (m.ServiceAccount == "") != (m.Secret == "") {
			v.add("mixpanel.secret", "service_account and secret go together")
		}
		oneOf("mixpanel.region", m.Region, "us", "eu", "in")
	}
	if m := a.Amplitude; m != nil {
		v.required("amplitude.api_key", m.APIKey)
		oneOf("amplitude.region", m.Region, "us", "eu")
	}
	if m := a.PostHog; m != nil {
		v.required("posthog.api_key", m.APIKey)
		v.httpURL("posthog.host", m.Host, false)
	}
	if m := a.CleverTap; m != nil {
		v.required("clevertap.account_id", m.AccountID)
		v.required("clevertap.passcode", m.Passcode)
		oneOf("clevertap.region", m.Region, "eu1", "in1", "sg1", "us1", "aps3", "mec1")
	}
	if m := a.MoEngage; m != nil {
		v.required("moengage.workspace_id", m.WorkspaceID)
		v.required("moengage.data_api_key", m.DataAPIKey)
		if m.DataCenter < 1 || m.DataCenter > 6 {
			v.add("moengage.data_center", "%d is not between 1 and 6", m.DataCenter)
		}
	}
	if m := a.Braze; m != nil {
		v.required("braze.api_key", m.APIKey)
		v.httpURL("braze.rest_endpoint", m.RESTEndpoint, false)
	}
	if m := a.GA4; m != nil {
		v.required("ga4.api_secret", m.APISecret)
		if m.FirebaseAppID == "" && m.MeasurementID == "" {
			v.add("ga4.firebase_app_id", "firebase_app_id (app streams) or measurement_id (web streams) is required")
		}
	}
	return v.err()
}

// Validate checks every span of every setting.
func (s Settings) Validate() error {
	var v verrs
	v.nest("", s.Windows.validate("windows", Windows.Validate))
	v.nest("", s.IPMatching.validate("ip_matching", IPMatching.Validate))
	v.nest("", s.Reengagement.validate("reengagement_window", func(d Duration) error {
		if d <= 0 || d.D() > 90*Day {
			return fmt.Errorf("%s is not between 1s and 90d", d)
		}
		return nil
	}))
	v.nest("", s.Fraud.validate("fraud", FraudRules.Validate))
	v.nest("", s.SKAN.validate("skan", SKANRules.Validate))
	v.nest("", s.Currency.validate("reporting_currency", func(c string) error {
		if !currencyRE.MatchString(c) {
			return fmt.Errorf("%q is not an ISO 4217 code like USD", c)
		}
		return nil
	}))
	v.nest("", s.ClientRateLimit.validate("client_rate_limit", func(n int) error {
		if n < 0 || n > 1_000_000 {
			return fmt.Errorf("%d is not between 0 and 1000000 requests per second", n)
		}
		return nil
	}))
	return v.err()
}

// Validate checks the windows (each at most 90 days; 0 inherits).
func (w Windows) Validate() error {
	var v verrs
	check := func(prefix string, ws WindowSet) {
		v.duration(prefix+"device_click", ws.DeviceClick, 90*Day)
		v.duration(prefix+"referrer_click", ws.ReferrerClick, 90*Day)
		v.duration(prefix+"ip", ws.IP, 90*Day)
	}
	check("default.", w.Default)
	for _, n := range sortedKeys(w.Networks) {
		v.network("networks", n, false)
		check("networks."+n+".", w.Networks[n])
	}
	return v.err()
}

// Validate checks the platforms named.
func (m IPMatching) Validate() error {
	var v verrs
	for i, p := range m.DisabledPlatforms {
		v.platform(fmt.Sprintf("disabled_platforms[%d]", i), p)
	}
	return v.err()
}

// Validate checks the thresholds.
func (f FraudRules) Validate() error {
	var v verrs
	v.duration("min_click_to_install", f.MinClickToInstall, time.Hour)
	if f.IPFloodClicks < 0 {
		v.add("ip_flood_clicks", "%d is negative", f.IPFloodClicks)
	}
	v.duration("ip_flood_window", f.IPFloodWindow, 7*Day)
	if (f.IPFloodClicks > 0) != (f.IPFloodWindow > 0) {
		v.add("ip_flood_window", "ip_flood_clicks and ip_flood_window go together (both set, or both 0)")
	}
	return v.err()
}

// Validate checks the rules.
func (r SKANRules) Validate() error {
	var v verrs
	for i, rule := range r.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if rule.Fine < 0 || rule.Fine > 63 {
			v.add(f+".fine", "%d is not between 0 and 63", rule.Fine)
		}
		switch rule.Coarse {
		case CoarseLow, CoarseMedium, CoarseHigh:
		default:
			v.add(f+".coarse", "%q is not low, medium or high", rule.Coarse)
		}
		if rule.MinRevenue != nil && *rule.MinRevenue < 0 {
			v.add(f+".min_revenue", "%v is negative", *rule.MinRevenue)
		}
		if rule.MinRevenue != nil && rule.MaxRevenue != nil && *rule.MaxRevenue <= *rule.MinRevenue {
			v.add(f+".max_revenue", "%v is not above min_revenue %v", *rule.MaxRevenue, *rule.MinRevenue)
		}
	}
	v.duration("lock_window", r.LockWindow, 35*Day)
	return v.err()
}

// Validate checks the campaign and every version of its spec.
func (c Campaign) Validate() error {
	var v verrs
	v.id("id", c.ID)
	v.id("project", c.ProjectID)
	if c.Spec.Len() == 0 {
		v.add("spec", "is required")
	}
	v.nest("", c.Spec.validate("spec", CampaignSpec.Validate))
	return v.err()
}

// Validate checks one version of a campaign.
func (s CampaignSpec) Validate() error {
	var v verrs
	v.required("name", s.Name)
	if s.DisplayID == "" {
		v.add("display_id", "is required")
	} else if !displayIDRE.MatchString(s.DisplayID) {
		v.add("display_id", "%q must be 1–64 letters, digits, '_' or '-'", s.DisplayID)
	}
	v.network("network", s.Network, true)
	for i, id := range s.NetworkCampaignIDs {
		v.required(fmt.Sprintf("network_campaign_ids[%d]", i), id)
	}
	if s.Deeplink != "" {
		u, err := url.Parse(s.Deeplink)
		if err != nil || !schemeRE.MatchString(u.Scheme) {
			v.add("deeplink", "%q is not a URL like myapp://path or https://…", s.Deeplink)
		}
	}
	for _, p := range sortedKeys(s.StoreURLs) {
		v.platform("store_urls", p)
		v.httpURL("store_urls."+string(p), s.StoreURLs[p], false)
	}
	v.httpURL("desktop_url", s.DesktopURL, true)
	return v.err()
}

// Validate checks the domain and every version of its spec.
func (d Domain) Validate() error {
	var v verrs
	if !hostRE.MatchString(d.Host) {
		v.add("host", "%q is not a lower-case host name like go.example.com", d.Host)
	}
	if d.Spec.Len() == 0 {
		v.add("spec", "is required")
	}
	v.nest("", d.Spec.validate("spec", func(s DomainSpec) error {
		var v verrs
		v.id("project", s.ProjectID)
		if s.DefaultCampaign != "" {
			v.id("default_campaign", s.DefaultCampaign)
		}
		return v.err()
	}))
	return v.err()
}

// Validate checks the account's credentials.
func (a NetworkAccount) Validate() error {
	var v verrs
	v.id("id", a.ID)
	v.id("project", a.ProjectID)
	v.network("network", a.Network, false)
	if want, known := NetworkCredentialKeys[a.Network]; known {
		for _, k := range want {
			v.required("credentials."+k, a.Credentials[k])
		}
	} else if len(a.Credentials) == 0 {
		v.add("credentials", "are required")
	}
	for _, k := range sortedKeys(a.Credentials) {
		v.required("credentials."+k, a.Credentials[k])
	}
	return dedup(v.err())
}

// Validate checks the map and every version of it.
func (m EventMap) Validate() error {
	var v verrs
	v.id("project", m.ProjectID)
	v.network("network", m.Network, false)
	if m.Events.Len() == 0 {
		v.add("events", "is required")
	}
	v.nest("", m.Events.validate("events", func(ev map[string]string) error {
		var v verrs
		for _, k := range sortedKeys(ev) {
			if strings.TrimSpace(k) == "" {
				v.add("events", "an app event name is empty")
			}
			v.required(k, ev[k])
		}
		return v.err()
	}))
	return v.err()
}

// dedup drops repeated messages (a field checked twice).
func dedup(err error) error {
	seen := map[string]bool{}
	var out []error
	for _, e := range splitErrors(err) {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// checkWebPrivateKey checks a web collector private key: a P-256 scalar,
// 32 bytes in base64url (standard base64 is accepted too).
func checkWebPrivateKey(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("is required")
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != 32 {
			return fmt.Errorf("is %d bytes; must be a 32-byte P-256 scalar in base64url", len(b))
		}
		if _, err := ecdh.P256().NewPrivateKey(b); err != nil {
			return errors.New("is not a valid P-256 private key")
		}
		return nil
	}
	return errors.New("must be a 32-byte P-256 scalar in base64url")
}
