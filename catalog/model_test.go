package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validProject() ProjectRecord {
	return ProjectRecord{
		ID: "demo", Name: "Demo",
		Secrets: Secrets{Token: "client-token-0123456789", ServerKey: "server-key-0123456789"},
	}
}

func validCampaign() Campaign {
	return Campaign{ID: "c1", ProjectID: "demo", Spec: Always(CampaignSpec{Name: "Summer", DisplayID: "summer", Network: "META",
		StoreURLs: map[Platform]string{Android: "https://play.google.com/store/apps/details?id=x"}})}
}

// Each bad field gives exactly one line naming it.
func TestValidateNamesEachField(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name   string
		mutate func(*ProjectRecord)
		want   []string
	}{
		{"ok", func(*ProjectRecord) {}, nil},
		{"id", func(p *ProjectRecord) { p.ID = "bad id:" }, []string{`id: "bad id:" must be`}},
		{"secrets", func(p *ProjectRecord) { p.Secrets = Secrets{ServerKey: "short"} }, []string{
			"token: is required", "server_key: must be at least 16 characters"}},
		{"same", func(p *ProjectRecord) { p.Secrets.ServerKey = p.Secrets.Token }, []string{"server_key: must differ from the token"}},
		{"signing", func(p *ProjectRecord) {
			p.Secrets.Signing = map[Platform]Signing{
				"WEB": {},
				IOS:   {Enforce: true, Keys: []SigningKey{{KeyID: "k", Secret: ""}, {KeyID: "k", Secret: "s"}}},
			}
		}, []string{`sdk_signing.IOS.keys[0].secret: is required`, `sdk_signing.IOS.keys[1].key_id: "k" is listed twice`,
			"sdk_signing.IOS.enforce: needs at least one active key", `sdk_signing.WEB: unknown platform "WEB"`}},
		{"meta key", func(p *ProjectRecord) { p.Secrets.MetaInstallReferrerKey = "abc" }, []string{"meta_install_referrer_key: must be 64 hex digits"}},
		{"webhook", func(p *ProjectRecord) { p.Secrets.Webhook = &Webhook{URL: "ftp://x", Secret: "s"} }, []string{
			`webhook.url: "ftp://x" is not an http(s) URL`, "webhook.secret: must be at least 16"}},
		{"analytics", func(p *ProjectRecord) {
			p.Secrets.Analytics = Analytics{
				Mixpanel: &Mixpanel{ProjectID: "1", Token: "t", ServiceAccount: "sa", Region: "mars"}, Amplitude: &Amplitude{},
				PostHog: &PostHog{APIKey: "k"}, CleverTap: &CleverTap{AccountID: "a", Passcode: "p", Region: "xx1"},
				MoEngage: &MoEngage{WorkspaceID: "w", DataAPIKey: "k", DataCenter: 7}, Braze: &Braze{APIKey: "k", RESTEndpoint: "rest"},
				GA4: &GA4{APISecret: "s"},
			}
		}, []string{
			"analytics.mixpanel.secret: service_account and secret go together", `analytics.mixpanel.region: "mars" is not one of us, eu, in`,
			"analytics.amplitude.api_key: is required", "analytics.posthog.host: is required", `analytics.clevertap.region: "xx1"`,
			"analytics.moengage.data_center: 7 is not between 1 and 6", `analytics.braze.rest_endpoint: "rest" is not an http(s) URL`,
			"analytics.ga4.firebase_app_id: firebase_app_id (app streams) or measurement_id (web streams) is required"}},
		{"settings", func(p *ProjectRecord) {
			p.Settings.Windows = Always(Windows{Default: WindowSet{IP: Duration(100 * Day)}, Networks: map[string]WindowSet{"meta": {}}})
			p.Settings.IPMatching = Always(IPMatching{DisabledPlatforms: []Platform{"ios"}})
			p.Settings.Reengagement, _ = NewHistory(Span[Duration]{From: day(1), Value: 0})
			p.Settings.Fraud = Always(FraudRules{MinClickToInstall: Duration(2 * time.Hour), IPFloodClicks: 5})
			p.Settings.SKAN = Always(SKANRules{Rules: []SKANRule{{Fine: 64, Coarse: "huge", MinRevenue: f(5), MaxRevenue: f(5)}}})
			p.Settings.Currency = Always("usd")
		}, []string{
			"settings.windows (from the beginning): default.ip: 100d is not between 0 and 90d",
			`settings.windows (from the beginning): networks: "meta" must be an upper-case network name`,
			`settings.ip_matching (from the beginning): disabled_platforms[0]: unknown platform "ios"`,
			"settings.reengagement_window (from 2025-01-01T00:00:00Z): 0s is not between 1s and 90d",
			"settings.fraud (from the beginning): min_click_to_install: 2h is not between 0 and 1h",
			"settings.fraud (from the beginning): ip_flood_window: ip_flood_clicks and ip_flood_window go together",
			"settings.skan (from the beginning): rules[0].fine: 64 is not between 0 and 63",
			`settings.skan (from the beginning): rules[0].coarse: "huge" is not low, medium or high`,
			"settings.skan (from the beginning): rules[0].max_revenue: 5 is not above min_revenue 5",
			`settings.reporting_currency (from the beginning): "usd" is not an ISO 4217 code`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validProject()
			tc.mutate(&p)
			checkLines(t, p.Validate(), tc.want)
		})
	}
}

// checkLines wants one error line per expected fragment, in any order.
func checkLines(t *testing.T, err error, want []string) {
	t.Helper()
	lines := splitErrors(err)
	if len(lines) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l.Error(), w)
		}
		if !found {
			t.Errorf("no error containing %q in:\n%v", w, err)
		}
	}
}

func TestValidateOtherEntities(t *testing.T) {
	c := validCampaign()
	checkLines(t, c.Validate(), nil)
	c.Spec = Always(CampaignSpec{DisplayID: "a b", Network: "x", NetworkCampaignIDs: []string{""}, Deeplink: "://",
		StoreURLs: map[Platform]string{"PC": "https://x.example"}, DesktopURL: "nope"})
	checkLines(t, c.Validate(), []string{"spec (from the beginning): name: is required", `display_id: "a b"`, `network: "x"`,
		"network_campaign_ids[0]: is required", `deeplink: "://"`, `store_urls: unknown platform "PC"`, `desktop_url: "nope"`})
	checkLines(t, (Campaign{ID: "c", ProjectID: "p"}).Validate(), []string{"spec: is required"})

	checkLines(t, (Domain{Host: "Go.Example.com", Spec: Always(DomainSpec{})}).Validate(),
		[]string{`host: "Go.Example.com" is not a lower-case host name`, "spec (from the beginning): project: is required"})
	checkLines(t, (NetworkAccount{ID: "a", ProjectID: "p", Network: "META", Credentials: map[string]string{"dataset_id": "1"}}).Validate(),
		[]string{"credentials.access_token: is required"})
	checkLines(t, (NetworkAccount{ID: "a", ProjectID: "p", Network: "MY_AFFILIATE"}).Validate(), []string{"credentials: are required"})
	checkLines(t, (EventMap{ProjectID: "p", Network: "META", Events: Always(map[string]string{"purchase": ""})}).Validate(),
		[]string{"events (from the beginning): purchase: is required"})
}

func TestCatalogValidateReferences(t *testing.T) {
	p2 := validProject()
	p2.ID = "other"
	c2 := validCampaign()
	c2.ID, c2.ProjectID = "c2", "other"
	cat := &Catalog{
		Projects:  []ProjectRecord{validProject(), p2},
		Campaigns: []Campaign{validCampaign(), c2, {ID: "c3", ProjectID: "ghost", Spec: Always(CampaignSpec{Name: "x", DisplayID: "x"})}},
		Domains: []Domain{{Host: "go.example.com", Spec: Always(DomainSpec{ProjectID: "demo", DefaultCampaign: "c2"})},
			{Host: "go.example.com", Spec: Always(DomainSpec{ProjectID: "demo", DefaultCampaign: "nope"})}},
		EventMaps: []EventMap{{ProjectID: "demo", Network: "META", Events: Always(map[string]string{"a": "b"})},
			{ProjectID: "demo", Network: "META", Events: Always(map[string]string{"a": "b"})}},
		NetworkAccounts: []NetworkAccount{{ID: "n", ProjectID: "ghost", Network: "X", Credentials: map[string]string{"k": "v"}}},
	}
	err := cat.Validate()
	checkLines(t, err, []string{
		`project "other": token: also the token of project "demo"`,
		`project "other": server_key: also the server key of project "demo"`,
		`campaign "c2": spec.display_id: "summer" is also campaign "c1"'s`,
		`campaign "c3": project: no project "ghost"`,
		`domain "go.example.com": spec.default_campaign: campaign "c2" belongs to project "other", not "demo"`,
		`domain "go.example.com": host: listed twice`,
		`domain "go.example.com": spec.default_campaign: no campaign "nope"`,
		`event map "demo:META": network: the project has another event map for this network`,
		`network account "n": project: no project "ghost"`,
	})
	var ee *EntityError
	if !errors.As(splitErrors(err)[0], &ee) || ee.Kind != EntityProject || ee.Index != 1 {
		t.Errorf("first error is not an EntityError of project 1: %#v", splitErrors(err)[0])
	}
	if _, ok := cat.ProjectByToken("client-token-0123456789"); ok {
		t.Error("lookup works before Build")
	}
}

func TestEffectiveSettings(t *testing.T) {
	var s Settings
	e := s.At(day(1))
	if e.Windows.For("META") != (WindowSet{DefaultDeviceClickWindow, DefaultReferrerClickWindow, DefaultIPWindow}) ||
		e.Currency != "USD" || e.Reengagement != DefaultReengagementWindow || e.Fraud.MinClickToInstall != Duration(10*time.Second) {
		t.Errorf("defaults: %+v", e)
	}
	if err := s.Windows.Set(day(5), Windows{Default: WindowSet{IP: Duration(12 * time.Hour)},
		Networks: map[string]WindowSet{"META": {DeviceClick: Duration(28 * Day)}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.At(day(4)).Windows.For("META").DeviceClick; got != DefaultDeviceClickWindow {
		t.Errorf("before the change: %s", got)
	}
	w := s.At(day(5)).Windows
	if got := w.For("META"); got != (WindowSet{Duration(28 * Day), DefaultReferrerClickWindow, Duration(12 * time.Hour)}) {
		t.Errorf("META windows %+v", got)
	}
	if got := w.For("TIKTOK"); got != (WindowSet{DefaultDeviceClickWindow, DefaultReferrerClickWindow, Duration(12 * time.Hour)}) {
		t.Errorf("TIKTOK windows %+v", got)
	}

	m := IPMatching{DisabledPlatforms: []Platform{Android}, IOSRequireATT: true}
	for _, tc := range []struct {
		p    Platform
		att  bool
		want bool
	}{{Android, true, false}, {IOS, false, false}, {IOS, true, true}} {
		if got := m.Allowed(tc.p, tc.att); got != tc.want {
			t.Errorf("Allowed(%s, att=%v) = %v", tc.p, tc.att, got)
		}
	}
	if (IPMatching{}).Allowed(IOS, false) != true || (IPMatching{Disabled: true}).Allowed(Android, true) {
		t.Error("zero policy must allow, Disabled must not")
	}

	f := func(v float64) *float64 { return &v }
	r := SKANRules{Rules: []SKANRule{{Event: "purchase", MaxRevenue: f(10), Fine: 10, Coarse: CoarseMedium},
		{Event: "purchase", MinRevenue: f(10), Fine: 40, Coarse: CoarseHigh}, {Fine: 1, Coarse: CoarseLow}}}
	for _, tc := range []struct {
		event string
		rev   float64
		fine  int
	}{{"purchase", 9.99, 10}, {"purchase", 10, 40}, {"open", 0, 1}} {
		if got, ok := r.Match(tc.event, tc.rev); !ok || got.Fine != tc.fine {
			t.Errorf("Match(%s, %v) = %d %v, want %d", tc.event, tc.rev, got.Fine, ok, tc.fine)
		}
	}
}
