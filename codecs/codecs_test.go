package codecs

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var at = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func samples() map[string]any {
	in := Install{
		RequestID: "5f0c7c1e-8a57-4a5e-9a39-0d4b8f1a2b3c", ProjectID: "demo", InstallID: "aB3dE5fG7hI9jK1lM3nO",
		Platform: "ANDROID", PackageVersion: "4.0.1", AppVersion: "2.3.0", Source: "GENERAL",
		Link: "https://app.example/open?c=x", Debug: true,
		DeviceData: json.RawMessage(`{"device_name":"Pixel 8","gaid":"38400000-8cf0-11bd-b23e-10b96e40000d"}`),
		ClientIP:   "203.0.113.7", UserAgent: "okhttp/4.12", ReceivedAt: at,
	}
	d := Decision{ID: "0123456789abcdef0123456789abcdef", ProjectID: "demo", InstallID: "aB3dE5fG7hI9jK1lM3nO",
		Version: 2, Source: "META", MatchType: "device", Tier: 2,
		Campaign: &Campaign{ID: "c1", Name: "Summer", Network: "META", NetworkID: "120200"},
		Deeplink: "myapp://promo", Platform: "ANDROID", InstalledAt: at, RulesVersion: "organic-only/1",
		RequestID: in.RequestID}
	entry := CatalogEntry{Kind: CatalogKindCampaign, ID: "c1", Version: 3, Revision: 17, PublishedAt: at,
		Campaign: &CatalogCampaign{ID: "c1", ProjectID: "demo",
			Spec: json.RawMessage(`[{"from":"2026-01-01T00:00:00Z","until":"2026-06-01T00:00:00Z","value":{"name":"Spring","display_id":"spr"}},{"from":"2026-06-01T00:00:00Z","value":{"name":"Summer","display_id":"sum"}}]`)}}
	return map[string]any{
		"catalog_entry": entry,
		"catalog_project": CatalogEntry{Kind: CatalogKindProject, ID: "demo", Version: 2, PublishedAt: at,
			Project: &CatalogProject{ID: "demo", Name: "Demo", Settings: json.RawMessage(`{"reporting_currency":[{"from":"0001-01-01T00:00:00Z","value":"EUR"}]}`)}},
		"catalog_token": CatalogEntry{Kind: CatalogKindToken, ID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Version: 2, PublishedAt: at,
			Secret: &CatalogSecret{ProjectID: "demo", Kind: "token"}},
		"catalog_display": CatalogEntry{Kind: CatalogKindDisplay, ID: "sum", Version: 3, PublishedAt: at,
			Display: &CatalogDisplay{CampaignID: "c1", ProjectID: "demo"}},
		"click": Click{ClickID: "0b7e4f3a-9c2d-4e1f-8a6b-5c4d3e2f1a0b", ProjectID: "demo", CampaignID: "c1", Source: "link",
			URL: "https://go.demo.example/sum?gclid=abc&utm_source=google", Referrer: "https://news.example/", Platform: "ANDROID",
			ClientIP: "203.0.113.7", UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
			OS: "Android", OSVersion: "14", Device: "Pixel 8", Browser: "Chrome", BrowserVersion: "124.0.6367.82",
			Geo:    Geo{Country: "DE", Region: "BE", RegionName: "Berlin", City: "Berlin"},
			Params: map[string]string{"gclid": "abc", "utm_source": "google"}, RequestID: "5f0c7c1e-8a57-4a5e-9a39-0d4b8f1a2b3c", ReceivedAt: at},
		"install":       in,
		"decision":      d,
		"install_state": InstallState{Install: in, Decision: d, Opens: 3, LastOpenAt: at.Add(time.Hour), Absorbed: map[string]int64{"installs": 41}},
	}
}

// TestGolden pins the wire format: a renamed or retyped field changes the
// encoding and fails here. Run with -update to accept a deliberate change.
func TestGolden(t *testing.T) {
	for name, v := range samples() {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire format of %s changed:\n got: %s\nwant: %s", name, got, want)
			}
			// And the golden bytes decode back to the same value.
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), v) {
				t.Errorf("golden %s does not decode to the sample:\n got %+v\nwant %+v", name, back.Elem().Interface(), v)
			}
		})
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c := JSON[Decision]{}
	d := samples()["decision"].(Decision)
	for _, in := range []any{d, &d} {
		b, err := c.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*out.(*Decision), d) {
			t.Fatalf("round trip: got %+v", out)
		}
	}
	if _, err := c.Encode(Install{}); err == nil {
		t.Fatal("encoding the wrong type must fail")
	}
	if _, err := c.Encode((*Decision)(nil)); err == nil {
		t.Fatal("encoding nil must fail")
	}
	if _, err := c.Decode([]byte("{")); err == nil {
		t.Fatal("decoding broken JSON must fail")
	}
}

// fuzzDecode checks that a decoder never panics and that whatever it
// accepts survives an encode/decode round trip unchanged.
func fuzzDecode[T any](f *testing.F, seed any) {
	b, _ := json.Marshal(seed)
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"received_at":"not a time"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode[T](data)
		if err != nil {
			return
		}
		enc, err := JSON[T]{}.Encode(v)
		if err != nil {
			t.Fatalf("re-encode of accepted input failed: %v", err)
		}
		v2, err := Decode[T](enc)
		if err != nil {
			t.Fatalf("decode of own encoding failed: %v", err)
		}
		enc2, _ := JSON[T]{}.Encode(v2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeInstall(f *testing.F)      { fuzzDecode[Install](f, samples()["install"]) }
func FuzzDecodeDecision(f *testing.F)     { fuzzDecode[Decision](f, samples()["decision"]) }
func FuzzDecodeInstallState(f *testing.F) { fuzzDecode[InstallState](f, samples()["install_state"]) }
func FuzzDecodeCatalogEntry(f *testing.F) { fuzzDecode[CatalogEntry](f, samples()["catalog_entry"]) }
func FuzzDecodeClick(f *testing.F)        { fuzzDecode[Click](f, samples()["click"]) }
