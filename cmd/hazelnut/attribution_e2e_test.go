package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/internal/poll"
)

// e2eCatalog is a project whose META campaign has a click link, with no
// fraud thresholds (a version of the fraud rules replaces all of them), so
// an install a moment after its click counts.
const e2eCatalog = `projects:
  - id: e2e
    name: End to end
    token: e2e-client-token-0123456789
    server_key: e2e-server-key-0123456789
    settings:
      fraud: {ip_flood_clicks: 100, ip_flood_window: 1h}
campaigns:
  - id: launch
    project: e2e
    spec:
      name: Launch
      display_id: launch
      network: META
      network_campaign_ids: ["120200000000009"]
      deeplink: e2e://welcome
      store_urls:
        ANDROID: https://play.google.com/store/apps/details?id=com.e2e.app
        IOS: https://apps.apple.com/app/id1234567899
      desktop_url: https://e2e.example/
`

// The whole path in `hazelnut dev`: a click link records a click and sends
// the visitor to the Play store with lr_ia_id in the referrer; the app's
// init carries that referrer (or the device's GAID, which the link took
// from the ad network's macro); attribution-data then answers the
// campaign, read from the decisions projection.
func TestDevAttributesClickLinkInstalls(t *testing.T) {
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(e2eCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, nil)
	cfg.Catalog, cfg.DemoToken = file, ""
	n := startNode(t, cfg, roleDev)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	click := func(query string) url.Values {
		req, _ := http.NewRequest(http.MethodGet, n.base+"/c/launch"+query, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("click link answered %d", resp.StatusCode)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc.Query()
	}
	referrer := click("?utm_source=meta").Get("referrer")
	click("?gaid=38400000-8CF0-11BD-B23E-10B96E40000D")

	installs := map[string]map[string]any{
		"by-referrer": {"install_ref": referrer},
		"by-gaid":     {"gaid": "38400000-8cf0-11bd-b23e-10b96e40000d"},
		"organic":     {"gaid": "11111111-2222-3333-4444-555555555555"},
	}
	want := map[string]string{"by-referrer": "META", "by-gaid": "META", "organic": "ORGANIC"}
	// Every request of the test comes from one address, so the install
	// without a click of its own IP-matches both clicks. It is sent last:
	// a click goes to the earliest install that claims it, so whatever it
	// gets first is taken back by the earlier ones. Sent before one of them
	// it would keep that click (the map's random order made that happen).
	for _, id := range []string{"by-referrer", "by-gaid", "organic"} {
		dd := installs[id]
		if code, out := n.post("/api/client/init", map[string]any{"token": "e2e-client-token-0123456789", "platform": "ANDROID",
			"install_instance_id": id, "device_data": dd}); code != 202 {
			t.Fatalf("init %s: %d %v", id, code, out)
		}
	}
	got := map[string]map[string]any{}
	last := map[string]any{} // the last answer for each install, for the failure message
	defer func() {
		if t.Failed() {
			t.Logf("last answers: %v", last)
		}
	}()
	poll.Until(t, 60*time.Second, "the installs to be attributed", func() bool {
		done := true
		for id, source := range want {
			code, out := n.post("/api/client/attribution-data", map[string]any{"token": "e2e-client-token-0123456789",
				"platform": "ANDROID", "install_instance_id": id})
			last[id] = out
			data, _ := out["data"].(map[string]any)
			if code != 200 || data["attribution_source"] != source {
				done = false
				continue
			}
			got[id] = data
		}
		return done
	})
	for _, id := range []string{"by-referrer", "by-gaid"} {
		cd, _ := got[id]["campaign_data"].(map[string]any)
		if cd["id"] != "launch" || cd["name"] != "Launch" || cd["ad_network"] != "META" || got[id]["deeplink"] != "e2e://welcome" ||
			cd["store_click_at"] == nil {
			t.Errorf("%s: %v", id, got[id])
		}
	}
	if got["organic"]["campaign_data"] != nil {
		t.Errorf("organic: %v", got["organic"])
	}
}
