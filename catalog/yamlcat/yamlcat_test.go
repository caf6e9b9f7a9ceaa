package yamlcat

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

const demoPath = "../../testdata/catalog/demo.yaml"

func TestLoadDemo(t *testing.T) {
	c, err := Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Projects) != 1 || len(c.Campaigns) != 2 || len(c.Domains) != 1 || len(c.NetworkAccounts) != 2 || len(c.EventMaps) != 2 {
		t.Fatalf("counts: %d projects, %d campaigns, %d domains, %d accounts, %d maps",
			len(c.Projects), len(c.Campaigns), len(c.Domains), len(c.NetworkAccounts), len(c.EventMaps))
	}
	p, ok := c.ProjectByToken("demo-client-token-0123456789")
	if !ok || p.ID != "demo" || p.ServerKey != "demo-server-key-0123456789" || p.Name != "Demo app" {
		t.Fatalf("ProjectByToken: %+v %v", p, ok)
	}
	rec, _ := c.Project("demo")
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// Dated settings resolve as of a time.
	if got := rec.Settings.At(at("2025-02-01T00:00:00Z")).Windows.For("META").IP; got != catalog.Duration(24*time.Hour) {
		t.Errorf("IP window before March 2025: %s", got)
	}
	if got := rec.Settings.At(at("2025-03-01T00:00:00Z")).Windows.For("META"); got.DeviceClick != catalog.Duration(28*catalog.Day) || got.IP != catalog.Duration(12*time.Hour) {
		t.Errorf("META windows from March 2025: %+v", got)
	}
	if got := rec.Settings.At(at("2024-06-01T00:00:00Z")).Currency; got != "EUR" {
		t.Errorf("currency in 2024: %s", got)
	}
	if got := rec.Settings.At(at("2023-06-01T00:00:00Z")).Currency; got != "USD" {
		t.Errorf("currency before any version (default): %s", got)
	}
	if got := rec.Settings.At(at("2023-06-01T00:00:00Z")).Reengagement; got != catalog.Duration(30*catalog.Day) {
		t.Errorf("reengagement (since always): %s", got)
	}
	if !rec.Secrets.Signing[catalog.IOS].Enforce || rec.Secrets.Analytics.MoEngage.DataCenter != 3 {
		t.Errorf("secrets: %+v", rec.Secrets)
	}
	// The summer campaign ended on 2025-09-01: not current, but known at install times before.
	if _, ok := c.CampaignByDisplayID("summer25"); ok {
		t.Error("ended campaign is current")
	}
	summer, _ := c.Campaign("summer-sale")
	if s, ok := summer.Spec.At(at("2025-08-01T00:00:00Z")); !ok || s.Name != "Summer sale (extended)" {
		t.Errorf("summer spec in August: %+v %v", s, ok)
	}
	if _, ok := summer.Spec.At(at("2025-09-01T00:00:00Z")); ok {
		t.Error("summer spec after its end")
	}
	if cp, ok := c.CampaignByDisplayID("news"); !ok || cp.ID != "newsletter" {
		t.Errorf("by display id: %+v %v", cp, ok)
	}
	if d, ok := c.Domain("go.demo.example", time.Now()); !ok || d.DefaultCampaign != "newsletter" {
		t.Errorf("domain: %+v %v", d, ok)
	}
	if m, ok := c.EventMap("demo", "META", at("2025-06-01T00:00:00Z")); !ok || m["add_to_cart"] != "AddToCart" {
		t.Errorf("event map: %v %v", m, ok)
	}
	if m, _ := c.EventMap("demo", "META", at("2025-05-31T00:00:00Z")); m["add_to_cart"] != "" {
		t.Errorf("event map before June: %v", m)
	}
	if len(c.NetworkAccountsOf("demo")) != 2 {
		t.Errorf("accounts: %v", c.NetworkAccountsOf("demo"))
	}
}

// The complete example in docs/catalog.md is testdata/catalog/demo.yaml.
func TestDocExampleIsDemo(t *testing.T) {
	doc, err := os.ReadFile("../../docs/catalog.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- example: testdata/catalog/demo.yaml -->\n```yaml\n"
	i := bytes.Index(doc, []byte(marker))
	if i < 0 {
		t.Fatalf("docs/catalog.md has no %q", marker)
	}
	rest := doc[i+len(marker):]
	j := bytes.Index(rest, []byte("```"))
	if j < 0 {
		t.Fatal("example block not closed")
	}
	demo, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rest[:j], demo) {
		t.Errorf("the example in docs/catalog.md differs from %s", demoPath)
	}
	if _, err := Parse("docs/catalog.md example", rest[:j]); err != nil {
		t.Error(err)
	}
}

// Each class of bad input gives a message naming the file, line and field.
func TestParseErrors(t *testing.T) {
	const project = `projects:
  - id: p
    token: client-token-0123456789
    server_key: server-key-0123456789
`
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "projects: [\n", []string{"f.yaml:1: did not find expected node content"}},
		{"unknown top-level", "project: []\n", []string{"f.yaml:1: project: unknown field (known: campaigns, domains, event_maps, network_accounts, projects)"}},
		{"unknown project field", project + "    tokn: x\n", []string{"f.yaml:5: projects[0].tokn: unknown field"}},
		{"unknown nested field", project + "    settings:\n      windows:\n        default: {devce_click: 7d}\n",
			[]string{"f.yaml:7: projects[0].settings.windows.default.devce_click: unknown field (known: device_click, ip, referrer_click)"}},
		{"unknown version field", project + "    settings:\n      reporting_currency:\n        - {from: 2025-01-01T00:00:00Z, valu: EUR}\n",
			[]string{`f.yaml:7: projects[0].settings.reporting_currency[0]: unknown field "valu"`, "projects[0].settings.reporting_currency[0].value: is required"}},
		{"bad duration", project + "    settings:\n      reengagement_window: 7 days\n",
			[]string{`f.yaml:6: projects[0].settings.reengagement_window: duration "7 days" is not like 7d, 24h, 1d12h, 90m or 10s`}},
		{"bad time", project + "    settings:\n      reporting_currency:\n        - {from: yesterday, value: EUR}\n",
			[]string{`f.yaml:7: projects[0].settings.reporting_currency[0].from: "yesterday" is not a time`}},
		{"wrong type", project + "    settings:\n      fraud: {ip_flood_clicks: many}\n",
			[]string{"f.yaml:6: cannot unmarshal !!str `many` into int"}},
		{"list for a value", project + "    name: [a]\n", []string{"f.yaml:5: projects[0].name: must be a single value, not a list"}},
		{"overlap", project + `    settings:
      reporting_currency:
        - {from: 2025-01-01T00:00:00Z, until: 2025-06-01T00:00:00Z, value: EUR}
        - {from: 2025-03-01T00:00:00Z, value: USD}
`, []string{"f.yaml:8: settings.reporting_currency[1]: span from 2025-03-01T00:00:00Z starts before the span from 2025-01-01T00:00:00Z ends"}},
		{"from missing", project + `    settings:
      reporting_currency:
        - {value: EUR}
        - {value: USD}
`, []string{"f.yaml:8: settings.reporting_currency[1].from: is required on every version but the first"}},
		{"validation", `projects:
  - id: p
    token: short
    server_key: server-key-0123456789
    settings:
      skan: {rules: [{fine: 70, coarse: low}]}
`, []string{`f.yaml:2: project "p": token: must be at least 16 characters`,
			`f.yaml:2: project "p": settings.skan (from the beginning): rules[0].fine: 70 is not between 0 and 63`}},
		{"reference", project + `campaigns:
  - id: c
    project: nope
    spec: {name: C, display_id: c}
`, []string{`f.yaml:6: campaign "c": project: no project "nope"`}},
		{"two documents", project + "---\nprojects: []\n", []string{"f.yaml:5: only one YAML document is allowed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d lines, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	c, err := Parse("empty.yaml", nil)
	if err != nil || len(c.Projects) != 0 {
		t.Errorf("%v %v", c, err)
	}
	if _, err := Load("does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// The demo's web collector key loads, and the loaded catalog finds its
// project by key id (what a gateway serving the file does).
func TestDemoWebCollectorKey(t *testing.T) {
	c, err := Load(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.ProjectByWebKey("demo-web-2026")
	if !ok || p.ID != "demo" {
		t.Fatalf("demo-web-2026 → %+v %v", p, ok)
	}
	if k, ok := p.WebKey("demo-web-2026"); !ok || k.PrivateKey == "" {
		t.Fatalf("key %+v %v", k, ok)
	}
}
