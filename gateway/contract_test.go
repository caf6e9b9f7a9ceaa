package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// The client API contract (sdk-contract §2–§4), endpoint by endpoint: what
// every SDK sends is accepted, answered in the shape the SDK parses and
// published where the pipeline reads it.

// Names of the contract catalog.
const (
	cProject   = "p1"
	cToken     = "tok1"
	cDomain    = "demo.example.link"
	cSummer    = "c-summer"
	cSummerDL  = "demoapp://offers/summer"
	cNews      = "c-news"
	cNewsDL    = "demoapp://news"
	cPlayURL   = "https://play.google.com/store/apps/details?id=com.demo.app"
	cAppleURL  = "https://apps.apple.com/app/id1234567890"
	cIOSKey    = "ios-key-1"
	cIOSSecret = "ios-secret-1"
	cAndKey    = "android-key-1"
	cAndSecret = "android-secret-1"
)

// contractCatalog is a project with signing keys on both platforms (not
// enforced unless enforce names a platform), a branded domain whose bare
// host goes to the newsletter campaign, the summer campaign (display id
// "summer") with a deep link and store listings, SKAN rules, and a second
// project with its own domain.
func contractCatalog(t testing.TB, enforce ...catalog.Platform) *catalog.Catalog {
	t.Helper()
	return contractCatalogWith(t, nil, enforce...)
}

// contractCatalogWith is contractCatalog changed by edit before it is
// built.
func contractCatalogWith(t testing.TB, edit func(*catalog.Catalog), enforce ...catalog.Platform) *catalog.Catalog {
	t.Helper()
	num := func(v float64) *float64 { return &v }
	signing := map[catalog.Platform]catalog.Signing{
		catalog.IOS: {Keys: []catalog.SigningKey{
			{KeyID: cIOSKey, Secret: cIOSSecret, Active: true},
			{KeyID: "ios-retired", Secret: "retired-secret", Active: false},
		}},
		catalog.Android: {Keys: []catalog.SigningKey{{KeyID: cAndKey, Secret: cAndSecret, Active: true}}},
	}
	for _, pl := range enforce {
		s := signing[pl]
		s.Enforce = true
		signing[pl] = s
	}
	c := &catalog.Catalog{
		Projects: []catalog.ProjectRecord{
			{ID: cProject, Name: "Contract", Secrets: catalog.Secrets{Token: shortTokens[cToken], ServerKey: "contract-server-key-0001", Signing: signing},
				Settings: catalog.Settings{SKAN: catalog.Always(catalog.SKANRules{
					LockWindow: catalog.Duration(48 * time.Hour),
					Rules: []catalog.SKANRule{
						{Event: "SIGNUP", Fine: 1, Coarse: catalog.CoarseLow},
						{Event: "add_to_cart", MinRevenue: num(0), MaxRevenue: num(10), Fine: 10, Coarse: catalog.CoarseMedium},
						{Event: "add_to_cart", MinRevenue: num(10), Fine: 40, Coarse: catalog.CoarseHigh},
						{Event: "PAYMENT", MinRevenue: num(1), Fine: 63, Coarse: catalog.CoarseHigh},
					},
				})}},
			{ID: "p2", Name: "Other", Secrets: catalog.Secrets{Token: shortTokens["tok2"], ServerKey: "contract-server-key-0002"}},
		},
		Campaigns: []catalog.Campaign{
			{ID: cSummer, ProjectID: cProject, Spec: catalog.Always(catalog.CampaignSpec{Name: "Summer sale", DisplayID: "summer",
				Network: catalog.NetworkMeta, Deeplink: cSummerDL,
				StoreURLs:  map[catalog.Platform]string{catalog.Android: cPlayURL, catalog.IOS: cAppleURL},
				DesktopURL: "https://demo.example/summer"})},
			{ID: cNews, ProjectID: cProject, Spec: catalog.Always(catalog.CampaignSpec{Name: "Newsletter", DisplayID: "news",
				Deeplink: cNewsDL})},
		},
		Domains: []catalog.Domain{
			{Host: cDomain, Spec: catalog.Always(catalog.DomainSpec{ProjectID: cProject, DefaultCampaign: cNews})},
			{Host: "other.example", Spec: catalog.Always(catalog.DomainSpec{ProjectID: "p2"})},
		},
	}
	if edit != nil {
		edit(c)
	}
	if err := c.Build(); err != nil {
		t.Fatal(err)
	}
	return c
}

// shortTokens are the catalog's tokens by the short names the test bodies
// use (the catalog wants tokens of 16 characters or more).
// SDK_TOKEN, the shared fixtures' own, names the first project too (the
// signed fixture cannot be rewritten).
var shortTokens = map[string]string{cToken: "contract-client-token-0001", "SDK_TOKEN": "contract-client-token-0001",
	"tok2": "contract-client-token-0002"}

// shortTokenProjects resolves the short names to the catalog's tokens.
type shortTokenProjects struct{ cat *catalog.Catalog }

func (p shortTokenProjects) ProjectByToken(token string) (catalog.Project, bool) {
	if long, ok := shortTokens[token]; ok {
		token = long
	}
	return p.cat.ProjectByToken(token)
}

// newContractServer serves the contract catalog at the test clock.
func newContractServer(t testing.TB, cat *catalog.Catalog, opts ...Option) (*memTopic, http.Handler) {
	t.Helper()
	if cat == nil {
		cat = contractCatalog(t)
	}
	m := newMem()
	opts = append([]Option{WithClock(func() time.Time { return now })}, opts...)
	s := New(Deps{Publisher: m, Decisions: m, Projects: shortTokenProjects{cat}, Catalog: cat, NotReady: func() []string { return nil }}, opts...)
	return m, s.Handler()
}

// reply is one answer as an SDK sees it.
type reply struct {
	code int
	hdr  http.Header
	raw  []byte
	body map[string]any
}

func (r reply) data() map[string]any { d, _ := r.body["data"].(map[string]any); return d }

func (r reply) errCode() (code, field string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// send posts body to path with JSON content type and the given headers;
// the answer must be a JSON object whatever its status.
func send(t testing.TB, h http.Handler, path, body string, hdr ...string) reply {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	out := reply{code: w.Code, hdr: w.Header(), raw: w.Body.Bytes()}
	if err := json.Unmarshal(out.raw, &out.body); err != nil || out.body == nil {
		t.Fatalf("%s answered %d with a body that is not a JSON object: %q", path, w.Code, out.raw)
	}
	return out
}

// checkEnvelope requires the {msg, status, data} shape with data an object.
func checkEnvelope(t *testing.T, r reply, status int) {
	t.Helper()
	if r.code != status {
		t.Fatalf("HTTP %d, want %d: %s", r.code, status, r.raw)
	}
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	if msg, ok := r.body["msg"].(string); !ok || msg == "" {
		t.Errorf("msg is not a non-empty string: %s", r.raw)
	}
	if st, ok := r.body["status"].(float64); !ok || int(st) != status {
		t.Errorf("body status %v, want the number %d", r.body["status"], status)
	}
	if _, ok := r.body["data"].(map[string]any); !ok {
		t.Errorf("data is not an object: %s", r.raw)
	}
}

// checkInitAccepted requires init's own 202 shape.
func checkInitAccepted(t *testing.T, r reply) {
	t.Helper()
	if r.code != http.StatusAccepted {
		t.Fatalf("HTTP %d, want 202: %s", r.code, r.raw)
	}
	if id, _ := r.body["processing_id"].(string); id == "" || r.body["status"] != "accepted" || r.body["success"] != true ||
		r.body["message"] != "Install event accepted for processing" {
		t.Errorf("init answer %s", r.raw)
	}
}

// checkRecords requires every published record to be valid JSON without
// the token.
func checkRecords(t *testing.T, recs []stream.Record) {
	t.Helper()
	for _, r := range recs {
		if !json.Valid(r.Value) {
			t.Errorf("%s/%s: value is not JSON: %s", r.Topic, r.Key, r.Value)
		}
		if bytes.Contains(r.Value, []byte(cToken)) {
			t.Errorf("%s/%s: the token was published: %s", r.Topic, r.Key, r.Value)
		}
	}
}

func decodeEvent(t *testing.T, r stream.Record) codecs.Event {
	t.Helper()
	var ev codecs.Event
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		t.Fatalf("%s: %v", r.Topic, err)
	}
	return ev
}

func decodeObject(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	return m
}

// contractCase is one accepted request of one route.
type contractCase struct {
	name, body string
	// check inspects the one published record (nil record when the route
	// publishes nothing) and the answer.
	check func(t *testing.T, rec *stream.Record, r reply)
}

type contractRoute struct {
	path   string
	status int
	// topic is where an accepted request is published ("" for none).
	topic string
	cases []contractCase
}

// eventCheck checks an event on topic events keyed by its install.
func eventCheck(kind string, more func(t *testing.T, ev codecs.Event, r reply)) func(*testing.T, *stream.Record, reply) {
	return func(t *testing.T, rec *stream.Record, r reply) {
		ev := decodeEvent(t, *rec)
		if rec.Topic != TopicEvents || rec.Key != cProject+":"+ev.InstallID || ev.InstallID == "" {
			t.Errorf("published on %s key %q (install %q)", rec.Topic, rec.Key, ev.InstallID)
		}
		if ev.Kind != kind || ev.ProjectID != cProject || !ev.ReceivedAt.Equal(now) || ev.RequestID == "" {
			t.Errorf("event %+v", ev)
		}
		if ev.DeviceData != nil {
			decodeObject(t, ev.DeviceData)
		}
		if more != nil {
			more(t, ev, r)
		}
	}
}

const iosInstall = "aB3dE5fG7hJ9kL1mN2pQ"

func contractRoutes(t *testing.T) []contractRoute {
	fx := func(name string) string { return fixture(t, name) }
	return []contractRoute{
		{path: "/api/client/init", status: 202, topic: TopicInstalls, cases: []contractCase{
			{"minimal", `{"token":"tok1","install_instance_id":"i-min"}`, func(t *testing.T, rec *stream.Record, _ reply) {
				if rec.Key != "p1:i-min" {
					t.Errorf("key %q", rec.Key)
				}
			}},
			{"unknown keys kept, placeholder minted, empty ids dropped", `{"token":"tok1","platform":"android",
				"install_instance_id":"ERROR_GENERATING_INSTALL_INSTANCE_ID","debug":"true","sdk_flavour":"x","n":[1,2],
				"device_data":{"gaid":"","idfa":"00000000-0000-0000-0000-000000000000","idfv":"","model":"Pixel"}}`,
				func(t *testing.T, rec *stream.Record, _ reply) {
					var in codecs.Install
					_ = json.Unmarshal(rec.Value, &in)
					if !in.MintedID || strings.Contains(rec.Key, "ERROR") || rec.Key != "p1:"+in.InstallID || in.Platform != "ANDROID" || !in.Debug {
						t.Errorf("key %q install %+v", rec.Key, in)
					}
					if dd := decodeObject(t, in.DeviceData); len(dd) != 1 || dd["model"] != "Pixel" {
						t.Errorf("device_data %v: empty and all-zero ids must be dropped", dd)
					}
					if ex := decodeObject(t, in.Extra); len(ex) != 2 || ex["sdk_flavour"] != "x" || ex["token"] != nil {
						t.Errorf("extra %v", ex)
					}
				}},
			{"ios-4.0.1-init.json", fx("ios-4.0.1-init.json"), func(t *testing.T, rec *stream.Record, r reply) {
				var in codecs.Install
				_ = json.Unmarshal(rec.Value, &in)
				dd := decodeObject(t, in.DeviceData)
				if rec.Key != "p1:"+iosInstall || in.PackageVersion != "4.0.1" || in.AppVersion != "2.3.0" || in.Source != "GENERAL" ||
					in.Platform != "IOS" || in.RequestID != r.body["processing_id"] || dd["idfa"] != "6D92078A-8246-4BA4-AE5B-76104861E7DC" ||
					in.Extra != nil {
					t.Errorf("key %q install %+v", rec.Key, in)
				}
			}},
			{"android-sdkless-init.json", fx("android-sdkless-init.json"), func(t *testing.T, rec *stream.Record, _ reply) {
				var in codecs.Install
				_ = json.Unmarshal(rec.Value, &in)
				dd := decodeObject(t, in.DeviceData)
				_, idfa := dd["idfa"]
				_, idfv := dd["idfv"]
				if rec.Key != "p1:0b9f4b1e-6a43-4b5e-9f6a-2d1c3e4f5a6b" || in.Source != "ADS" || idfa || idfv ||
					dd["gaid"] != "38400000-8cf0-11bd-b23e-10b96e40000d" || dd["meta_install_ref"] == nil {
					t.Errorf("key %q install %+v device_data %v", rec.Key, in, dd)
				}
			}},
			{"legacy-rn-init.json", fx("legacy-rn-init.json"), func(t *testing.T, rec *stream.Record, _ reply) {
				var in codecs.Install
				_ = json.Unmarshal(rec.Value, &in)
				if rec.Key != "p1:Xy12Ab34Cd56Ef78Gh90" || in.Platform != "REACT_NATIVE" || !in.Debug || in.PackageVersion != "1.2.0" {
					t.Errorf("key %q install %+v", rec.Key, in)
				}
			}},
		}},
		{path: "/api/client/attribution-data", status: 200, cases: []contractCase{
			{"minimal", `{"token":"tok1","install_instance_id":"i-min"}`, func(t *testing.T, _ *stream.Record, r reply) {
				d := r.data()
				if d["attribution_status"] != "pending" || d["campaign_data"] != nil || d["deeplink"] != nil || d["attribution_source"] != "UNKNOWN" {
					t.Errorf("pending answer %s", r.raw)
				}
			}},
			{"ios-4.0.1-attribution-data.json", fx("ios-4.0.1-attribution-data.json"), nil},
		}},
		{path: "/api/client/trigger", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","install_instance_id":"i-min"}`, eventCheck(codecs.EventSignup, func(t *testing.T, ev codecs.Event, r reply) {
				if ev.InstallID != "i-min" || ev.EventName != "SIGNUP" {
					t.Errorf("event %+v", ev)
				}
			})},
			{"ios-4.0.1-trigger.json", fx("ios-4.0.1-trigger.json"), eventCheck(codecs.EventSignup, func(t *testing.T, ev codecs.Event, r reply) {
				data, dd := decodeObject(t, ev.Data), decodeObject(t, ev.DeviceData)
				if ev.InstallID != iosInstall || ev.UserID != "user-42" || data["referral_code"] != "X1" || data["device_data"] != nil ||
					dd["device"] != "iPhone" || ev.TimeSinceInstall == nil || *ev.TimeSinceInstall != 12.5 {
					t.Errorf("event %+v data %v", ev, data)
				}
				if u := decodeObject(t, ev.UserData); u["email"] != "a@example.com" {
					t.Errorf("user_data %v", u)
				}
			})},
			{"android 1.1.3 shape", `{"token":"tok1","event":"SIGNUP","user_data":{"id":"u-7","name":null},"platform":"ANDROID",
				"install_instance_id":"0b9f4b1e","data":{"device_data":{"gaid":null,"brand":"google"}},"link":null,"value":null,"source":null}`,
				eventCheck(codecs.EventSignup, func(t *testing.T, ev codecs.Event, r reply) {
					dd := decodeObject(t, ev.DeviceData)
					if _, has := dd["gaid"]; has || ev.UserID != "u-7" || ev.Data != nil {
						t.Errorf("event %+v", ev)
					}
				})},
		}},
		{path: "/api/client/capture-event", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","event_name":"open"}`, eventCheck(codecs.EventCustom, func(t *testing.T, ev codecs.Event, r reply) {
				if !ev.MintedID || ev.EventName != "open" {
					t.Errorf("event %+v", ev)
				}
			})},
			{"event_data as a JSON string", `{"token":"tok1","event_name":"add_to_cart","event_data":"{\"amount\":\"5\",\"sku\":\"A\"}",
				"install_instance_id":"i-s","platform":"IOS","custom_key":{"k":1}}`,
				eventCheck(codecs.EventCustom, func(t *testing.T, ev codecs.Event, r reply) {
					if d := decodeObject(t, ev.Data); d["sku"] != "A" || d["amount"] != "5" {
						t.Errorf("event_data %s", ev.Data)
					}
					if ex := decodeObject(t, ev.Extra); len(ex) != 1 || ex["custom_key"] == nil {
						t.Errorf("extra %s", ev.Extra)
					}
				})},
			{"event_data null, legacy shape", `{"token":"tok1","event_name":"x","event_data":null,"install_instance_id":"ERROR_GENERAING_INSTALL_INSTANCE_ID"}`,
				eventCheck(codecs.EventCustom, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.Data != nil || !ev.MintedID || strings.Contains(ev.InstallID, "ERROR") {
						t.Errorf("event %+v", ev)
					}
				})},
			{"ios-4.0.1-capture-event.json", fx("ios-4.0.1-capture-event.json"), eventCheck(codecs.EventCustom, func(t *testing.T, ev codecs.Event, r reply) {
				if ev.EventName != "add_to_cart" || ev.EventID != "evt-0001" || ev.UserID != "user-42" || ev.InstallID != iosInstall {
					t.Errorf("event %+v", ev)
				}
				if d := decodeObject(t, ev.Data); d["amount"] != 19.99 {
					t.Errorf("event_data %s", ev.Data)
				}
				if msg, _ := r.data()["message"].(string); msg == "" {
					t.Errorf("data.message %s", r.raw)
				}
			})},
		}},
		{path: "/api/client/capture-payment", status: 201, topic: "", cases: []contractCase{
			{"minimal: no payment_id goes to events with the defaults", `{"token":"tok1","amount":0,"install_instance_id":"i-pay"}`,
				eventCheck(codecs.EventPayment, func(t *testing.T, ev codecs.Event, r reply) {
					if p := ev.Payment; p == nil || p.Type != "DEFAULT" || p.Status != "PAYMENT_COMPLETED" || p.Amount != 0 || p.PaymentID != "" {
						t.Errorf("payment %+v", ev.Payment)
					}
				})},
			{"blank payment_id, amount as a string", `{"token":"tok1","amount":"12.5","payment_id":"  ","type":"","status":null,"install_instance_id":"i-pay"}`,
				eventCheck(codecs.EventPayment, func(t *testing.T, ev codecs.Event, r reply) {
					if p := ev.Payment; p == nil || p.Type != "DEFAULT" || p.Status != "PAYMENT_COMPLETED" || p.Amount != 12.5 || p.PaymentID != "" {
						t.Errorf("payment %+v", ev.Payment)
					}
				})},
			{"payment_id goes to payment-keys", `{"token":"tok1","amount":3,"payment_id":"pay-9","type":"wallet_topup","status":"payment_initiated",
				"event_data":"{\"plan\":\"gold\"}","install_instance_id":"i-pay"}`, func(t *testing.T, rec *stream.Record, r reply) {
				ev := decodeEvent(t, *rec)
				if rec.Topic != TopicPaymentKeys || rec.Key != "p1:WALLET_TOPUP:pay-9" || ev.InstallID != "i-pay" || ev.Kind != codecs.EventPayment {
					t.Errorf("published on %s key %q: %+v", rec.Topic, rec.Key, ev)
				}
				if p := ev.Payment; p == nil || p.Status != "PAYMENT_INITIATED" || p.Amount != 3 {
					t.Errorf("payment %+v", ev.Payment)
				}
				if d := decodeObject(t, ev.Data); d["plan"] != "gold" {
					t.Errorf("event_data %s", ev.Data)
				}
			}},
			{"ios-4.0.1-capture-payment.json", fx("ios-4.0.1-capture-payment.json"), func(t *testing.T, rec *stream.Record, r reply) {
				ev := decodeEvent(t, *rec)
				if rec.Topic != TopicPaymentKeys || rec.Key != "p1:FIRST_PAYMENT:pay-0001" || ev.UserID != "user-42" || ev.InstallID != iosInstall {
					t.Errorf("published on %s key %q: %+v", rec.Topic, rec.Key, ev)
				}
				if p := ev.Payment; p == nil || p.Amount != 49 || p.Status != "PAYMENT_COMPLETED" {
					t.Errorf("payment %+v", ev.Payment)
				}
				if dd := decodeObject(t, ev.DeviceData); dd["device"] != "iPhone" || ev.Data != nil || ev.Extra != nil {
					t.Errorf("device_data from data.device_data %s, data %s, extra %s", ev.DeviceData, ev.Data, ev.Extra)
				}
			}},
		}},
		{path: "/api/client/remove-captured-payment", status: 200, topic: TopicEvents, cases: []contractCase{
			{"by payment_id", `{"token":"tok1","payment_id":"pay-1","install_instance_id":"i-r"}`,
				eventCheck(codecs.EventPaymentRemoved, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.Payment == nil || ev.Payment.PaymentID != "pay-1" {
						t.Errorf("payment %+v", ev.Payment)
					}
				})},
			{"by user_id, sdk shape", `{"token":"tok1","user_id":"user-42","platform":"IOS","install_instance_id":"i-r","data":{"device_data":{"device":"iPhone"}}}`,
				eventCheck(codecs.EventPaymentRemoved, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.UserID != "user-42" || decodeObject(t, ev.DeviceData)["device"] != "iPhone" || ev.Extra != nil {
						t.Errorf("event %+v", ev)
					}
				})},
		}},
		{path: "/api/client/set-user-data", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","user_data":{"id":"u1"}}`, eventCheck(codecs.EventUserData, func(t *testing.T, ev codecs.Event, r reply) {
				if ev.UserID != "u1" || !ev.MintedID {
					t.Errorf("event %+v", ev)
				}
			})},
			{"android-1.1.3-set-user-data.json", fx("android-1.1.3-set-user-data.json"), eventCheck(codecs.EventUserData, func(t *testing.T, ev codecs.Event, r reply) {
				dd := decodeObject(t, ev.DeviceData)
				_, idfa := dd["idfa"]
				if ev.UserID != "user-7" || ev.Platform != "ANDROID" || idfa || dd["gaid"] == nil || decodeObject(t, ev.UserData)["id"] != "user-7" {
					t.Errorf("event %+v", ev)
				}
			})},
		}},
		{path: "/api/client/update-push-token", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","push_token":"apns-1","platform":"IOS","install_instance_id":"i-p"}`,
				eventCheck(codecs.EventPushToken, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.PushToken != "apns-1" || ev.InstallID != "i-p" {
						t.Errorf("event %+v", ev)
					}
				})},
		}},
		{path: "/api/client/integrations", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","install_instance_id":"i-i","integration_info":{"clevertap_id":"ct-1"},"platform":"IOS"}`,
				eventCheck(codecs.EventIntegrations, func(t *testing.T, ev codecs.Event, r reply) {
					if decodeObject(t, ev.Integrations)["clevertap_id"] != "ct-1" {
						t.Errorf("integrations %s", ev.Integrations)
					}
				})},
		}},
		{path: "/api/client/handle-deeplink", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal foreign URL", `{"token":"tok1","deeplink_url":"https://example.com/x?y=1"}`,
				eventCheck(codecs.EventDeeplink, func(t *testing.T, ev codecs.Event, r reply) {
					if d := r.data(); d["deeplink"] != "https://example.com/x?y=1" || d["is_linkrunner"] != false {
						t.Errorf("answer %s", r.raw)
					}
				})},
			{"ios-4.0.1-handle-deeplink.json", fx("ios-4.0.1-handle-deeplink.json"), eventCheck(codecs.EventDeeplink, func(t *testing.T, ev codecs.Event, r reply) {
				if ev.DeeplinkURL != "https://demo.example.link/c/summer?x=1" || ev.ClientTime == nil || ev.ClientTime.UnixMilli() != 1764080100000 {
					t.Errorf("event %+v", ev)
				}
				if d := r.data(); d["deeplink"] != cSummerDL || d["is_linkrunner"] != true {
					t.Errorf("answer %s", r.raw)
				}
			})},
			{"timestamp beyond any date is ignored", `{"token":"tok1","deeplink_url":"0","timestamp":1e20}`,
				eventCheck(codecs.EventDeeplink, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.ClientTime != nil || r.data()["deeplink"] != "0" {
						t.Errorf("event %+v answer %s", ev, r.raw)
					}
				})},
			{"sdk-less meta_install_referrer", `{"token":"tok1","platform":"ANDROID","install_instance_id":"i-d","deeplink_url":"https://demo.example.link/",
				"timestamp":1764080100000,"meta_install_referrer":{"install_referrer":"{}","source":"facebook","is_ct":1}}`,
				eventCheck(codecs.EventDeeplink, func(t *testing.T, ev codecs.Event, r reply) {
					if m, _ := decodeObject(t, ev.DeviceData)["meta_install_ref"].(map[string]any); m["source"] != "facebook" {
						t.Errorf("device_data %s", ev.DeviceData)
					}
					if d := r.data(); d["deeplink"] != cNewsDL || d["is_linkrunner"] != true {
						t.Errorf("answer %s", r.raw)
					}
				})},
		}},
		{path: "/api/client/customer-user-id", status: 200, topic: TopicEvents, cases: []contractCase{
			{"minimal", `{"token":"tok1","user_id":"user-42","platform":"IOS","install_instance_id":"i-c"}`,
				eventCheck(codecs.EventCustomerUserID, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.UserID != "user-42" {
						t.Errorf("event %+v", ev)
					}
				})},
		}},
		{path: "/api/client/deeplink-triggered", status: 200, topic: TopicEvents, cases: []contractCase{
			{"legacy-expo-deeplink-triggered.json", fx("legacy-expo-deeplink-triggered.json"),
				eventCheck(codecs.EventDeeplinkTriggered, func(t *testing.T, ev codecs.Event, r reply) {
					if !ev.MintedID || ev.Extra != nil {
						t.Errorf("event %+v", ev)
					}
				})},
			{"android 1.1.3 shape", `{"token":"tok1","device_data":{"brand":"google"},"install_instance_id":"i-t","platform":"FLUTTER"}`,
				eventCheck(codecs.EventDeeplinkTriggered, func(t *testing.T, ev codecs.Event, r reply) {
					if ev.InstallID != "i-t" || ev.Platform != "FLUTTER" {
						t.Errorf("event %+v", ev)
					}
				})},
		}},
		{path: "/api/client/capture-page-view", status: 201, topic: TopicClicks, cases: []contractCase{
			{"minimal", `{"token":"tok1","url":"https://demo.example.link/c/summer"}`, func(t *testing.T, rec *stream.Record, r reply) {
				var c codecs.Click
				_ = json.Unmarshal(rec.Value, &c)
				if rec.Key != c.ClickID || c.ClickID != r.data()["click_id"] || c.CampaignID != cSummer || c.Source != "page_view" {
					t.Errorf("click %s/%s %+v", rec.Topic, rec.Key, c)
				}
			}},
		}},
	}
}

// Every route accepts its minimal body and every fixture that belongs to it,
// answers the documented status and shape, and publishes one record where
// the pipeline reads it.
func TestContractEveryRouteAndFixture(t *testing.T) {
	routes := contractRoutes(t)
	if len(routes) != 13 {
		t.Fatalf("%d routes, the client API has 13", len(routes))
	}
	for _, rt := range routes {
		for _, c := range rt.cases {
			t.Run(strings.TrimPrefix(rt.path, "/api/client/")+"/"+c.name, func(t *testing.T) {
				m, h := newContractServer(t, nil)
				r := send(t, h, rt.path, c.body)
				if rt.path == "/api/client/init" {
					checkInitAccepted(t, r)
				} else {
					checkEnvelope(t, r, rt.status)
				}
				recs := m.all()
				checkRecords(t, recs)
				want := 1
				if rt.path == "/api/client/attribution-data" {
					want = 0
				}
				if len(recs) != want {
					t.Fatalf("published %d records, want %d", len(recs), want)
				}
				var rec *stream.Record
				if want == 1 {
					rec = &recs[0]
					if rt.topic != "" && rec.Topic != rt.topic {
						t.Errorf("published on %s, want %s", rec.Topic, rt.topic)
					}
				}
				if c.check != nil {
					c.check(t, rec, r)
				}
			})
		}
	}
}

// Every fixture in the shared set is covered by a contract case.
func TestContractCoversEveryFixture(t *testing.T) {
	names, err := filepathGlob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, rt := range contractRoutes(t) {
		for _, c := range rt.cases {
			covered[c.name] = true
		}
	}
	for _, n := range names {
		if n != "signing-vector.json" && !covered[n] {
			t.Errorf("fixture %s has no contract case", n)
		}
	}
}

// trigger answers data.trigger true and a string deeplink, the decided one
// once there is a decision.
func TestContractTriggerAnswer(t *testing.T) {
	m, h := newContractServer(t, nil)
	r := send(t, h, "/api/client/trigger", fixture(t, "ios-4.0.1-trigger.json"))
	checkEnvelope(t, r, 200)
	if d := r.data(); d["trigger"] != true || d["deeplink"] != "" {
		t.Errorf("before a decision: %s", r.raw)
	}
	m.decisions["p1:"+iosInstall] = &codecs.Decision{ProjectID: cProject, InstallID: iosInstall, Source: "META", Deeplink: cSummerDL}
	r = send(t, h, "/api/client/trigger", fixture(t, "ios-4.0.1-trigger.json"))
	if d := r.data(); d["trigger"] != true || d["deeplink"] != cSummerDL {
		t.Errorf("after a decision: %s", r.raw)
	}
}

// handle-deeplink answers {deeplink string, is_linkrunner bool, processing
// bool}: a link of the project's domain resolves to its campaign's deep
// link (by /c/{display id}, ?c=, the first path segment, else the domain's
// default campaign); any other URL comes back unchanged.
func TestContractHandleDeeplink(t *testing.T) {
	_, h := newContractServer(t, nil)
	for _, c := range []struct {
		url, want string
		ours      bool
	}{
		{"https://demo.example.link/c/summer?x=1", cSummerDL, true},
		{"https://demo.example.link/summer", cSummerDL, true},
		{"https://demo.example.link/?c=summer", cSummerDL, true},
		{"https://DEMO.example.link/c/news", cNewsDL, true},
		{"https://demo.example.link/", cNewsDL, true},
		{"https://demo.example.link/c/unknown", cNewsDL, true},
		{"https://example.com/c/summer", "https://example.com/c/summer", false},
		{"https://other.example/c/summer", "https://other.example/c/summer", false},
		{"demoapp://offers/summer", "demoapp://offers/summer", false},
		{"not a url at all %%", "not a url at all %%", false},
	} {
		body, _ := json.Marshal(map[string]any{"token": cToken, "platform": "IOS", "install_instance_id": "i1", "deeplink_url": c.url})
		r := send(t, h, "/api/client/handle-deeplink", string(body))
		checkEnvelope(t, r, 200)
		d := r.data()
		dl, isStr := d["deeplink"].(string)
		lr, isBool := d["is_linkrunner"].(bool)
		_, procBool := d["processing"].(bool)
		if !isStr || !isBool || !procBool {
			t.Errorf("%s: types of %s", c.url, r.raw)
		}
		if dl != c.want || lr != c.ours {
			t.Errorf("%s: deeplink %q is_linkrunner %v, want %q %v", c.url, dl, lr, c.want, c.ours)
		}
	}
}

var isoSeconds = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// attribution-data is pending before a decision and then answers the
// campaign with string id, name and type and times without fractions.
func TestContractAttributionData(t *testing.T) {
	m, h := newContractServer(t, nil)
	body := fixture(t, "ios-4.0.1-attribution-data.json")
	r := send(t, h, "/api/client/attribution-data", body)
	checkEnvelope(t, r, 200)
	if d := r.data(); d["attribution_status"] != "pending" || d["campaign_data"] != nil || d["attribution_source"] != "UNKNOWN" {
		t.Fatalf("pending: %s", r.raw)
	}
	m.decisions["p1:"+iosInstall] = &codecs.Decision{ProjectID: cProject, InstallID: iosInstall, Version: 1, Source: "META",
		InstalledAt: now.Add(123456789 * time.Nanosecond), Deeplink: cSummerDL, ClickedAt: now.Add(-time.Hour + 5*time.Millisecond),
		Campaign: &codecs.Campaign{ID: cSummer, Name: "Summer sale", Network: "META", NetworkID: "1202"}}
	r = send(t, h, "/api/client/attribution-data", body)
	checkEnvelope(t, r, 200)
	d := r.data()
	cd, _ := d["campaign_data"].(map[string]any)
	if d["attribution_source"] != "META" || d["deeplink"] != cSummerDL || cd == nil {
		t.Fatalf("decided: %s", r.raw)
	}
	for _, k := range []string{"id", "name", "type", "installed_at"} {
		if _, ok := cd[k].(string); !ok {
			t.Errorf("campaign_data.%s is not a string: %s", k, r.raw)
		}
	}
	if at, _ := cd["installed_at"].(string); !isoSeconds.MatchString(at) || at != "2026-06-14T10:00:00Z" {
		t.Errorf("installed_at %q", at)
	}
	if at, _ := cd["store_click_at"].(string); at != "2026-06-14T09:00:00Z" {
		t.Errorf("store_click_at %q", at)
	}
	if cd["id"] != cSummer || cd["type"] != "INORGANIC" || cd["ad_network"] != "META" {
		t.Errorf("campaign_data %v", cd)
	}
	// An organic decision: no campaign, a null deeplink.
	m.decisions["p1:"+iosInstall] = &codecs.Decision{ProjectID: cProject, InstallID: iosInstall, Version: 2, Source: "ORGANIC", InstalledAt: now}
	r = send(t, h, "/api/client/attribution-data", body)
	if d := r.data(); d["attribution_source"] != "ORGANIC" || d["campaign_data"] != nil || d["deeplink"] != nil {
		t.Errorf("organic: %s", r.raw)
	}
	if len(m.all()) != 0 {
		t.Error("attribution-data published")
	}
}

// skanOf reads the SKAN values of an answer keeping the JSON number text.
func skanOf(t *testing.T, r reply) (fine json.RawMessage, coarse any, lock any, present bool) {
	t.Helper()
	var out struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatal(err)
	}
	fine, present = out.Data["fine_conversion_value"]
	d := r.data()
	return fine, d["coarse_conversion_value"], d["lock_postback"], present
}

// SKAN values: an integer 0–63 and low/medium/high when a rule matches,
// nothing when none does.
func TestContractSKAN(t *testing.T) {
	_, h := newContractServer(t, nil)
	for _, c := range []struct {
		name, path, body string
		fine             string // "" when no rule matches
		coarse           string
		lock             bool
	}{
		{"trigger", "/api/client/trigger", fixture(t, "ios-4.0.1-trigger.json"), "1", "low", false},
		{"event with revenue", "/api/client/capture-event", fixture(t, "ios-4.0.1-capture-event.json"), "40", "high", false},
		{"event with small revenue", "/api/client/capture-event",
			`{"token":"tok1","event_name":"add_to_cart","event_data":{"amount":"2"},"time_since_app_install":200000}`, "10", "medium", true},
		{"event without revenue", "/api/client/capture-event", `{"token":"tok1","event_name":"add_to_cart"}`, "", "", false},
		{"event without a rule", "/api/client/capture-event", `{"token":"tok1","event_name":"open"}`, "", "", false},
		{"payment", "/api/client/capture-payment", fixture(t, "ios-4.0.1-capture-payment.json"), "63", "high", false},
		{"payment below the rule", "/api/client/capture-payment", `{"token":"tok1","amount":0.5}`, "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, h, c.path, c.body)
			if r.code/100 != 2 {
				t.Fatalf("%d %s", r.code, r.raw)
			}
			fine, coarse, lock, present := skanOf(t, r)
			if c.fine == "" {
				if present || coarse != nil || lock != nil {
					t.Errorf("no rule matches, yet %s", r.raw)
				}
				return
			}
			if string(fine) != c.fine || coarse != c.coarse || lock != c.lock {
				t.Errorf("fine %s coarse %v lock %v, want %s %s %v", fine, coarse, lock, c.fine, c.coarse, c.lock)
			}
			var n int
			if err := json.Unmarshal(fine, &n); err != nil || n < 0 || n > 63 {
				t.Errorf("fine_conversion_value %s is not an integer 0–63", fine)
			}
		})
	}
	// A project without SKAN rules answers none.
	_, h2 := newContractServer(t, nil)
	r := send(t, h2, "/api/client/capture-event", `{"token":"tok2","event_name":"add_to_cart","event_data":{"amount":50}}`)
	if _, _, _, present := skanOf(t, r); present {
		t.Errorf("project without rules: %s", r.raw)
	}
}

// capture-page-view records the click and answers the store link, with the
// click id in the Play referrer on Android; a page of another origin is
// refused.
func TestContractCapturePageView(t *testing.T) {
	t.Run("android", func(t *testing.T) {
		m, h := newContractServer(t, nil)
		r := send(t, h, "/api/client/capture-page-view",
			`{"token":"tok1","url":"https://demo.example.link/c/summer?utm_source=fb&utm_campaign=s1&fbclid=abc","referrer":"https://m.facebook.com/","platform":"ANDROID"}`,
			"Origin", "https://demo.example.link")
		checkEnvelope(t, r, 201)
		d := r.data()
		link, _ := d["store_link"].(string)
		clickID, _ := d["click_id"].(string)
		if !strings.HasPrefix(link, cPlayURL) || !strings.Contains(link, "referrer=") || clickID == "" {
			t.Fatalf("answer %s", r.raw)
		}
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.ParseQuery(u.Query().Get("referrer"))
		if err != nil || ref.Get("lr_ia_id") != clickID || ref.Get("utm_source") != "fb" || u.Query().Get("id") != "com.demo.app" {
			t.Errorf("referrer of %s: %v", link, ref)
		}
		recs := m.all()
		checkRecords(t, recs)
		if len(recs) != 1 || recs[0].Topic != TopicClicks || recs[0].Key != clickID {
			t.Fatalf("published %v", recs)
		}
		var c codecs.Click
		_ = json.Unmarshal(recs[0].Value, &c)
		if c.ClickID != clickID || c.ProjectID != cProject || c.CampaignID != cSummer || c.Platform != "ANDROID" ||
			c.Params["fbclid"] != "abc" || c.Params["utm_campaign"] != "s1" || c.Referrer != "https://m.facebook.com/" || !c.ReceivedAt.Equal(now) {
			t.Errorf("click %+v", c)
		}
	})
	t.Run("ios from the user agent", func(t *testing.T) {
		m, h := newContractServer(t, nil)
		r := send(t, h, "/api/client/capture-page-view", `{"token":"tok1","url":"https://demo.example.link/c/summer"}`,
			"Origin", "https://demo.example.link", "User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)")
		checkEnvelope(t, r, 201)
		if r.data()["store_link"] != cAppleURL || len(m.all()) != 1 {
			t.Errorf("answer %s", r.raw)
		}
	})
	for _, c := range []struct{ name, url, origin string }{
		{"foreign origin", "https://demo.example.link/c/summer", "https://evil.example"},
		{"another project's origin", "https://demo.example.link/c/summer", "https://other.example"},
		{"opaque origin", "https://demo.example.link/c/summer", "null"},
		{"foreign page", "https://evil.example/c/summer", ""},
		{"another project's page", "https://other.example/c/summer", "https://other.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, h := newContractServer(t, nil)
			hdr := []string{}
			if c.origin != "" {
				hdr = append(hdr, "Origin", c.origin)
			}
			r := send(t, h, "/api/client/capture-page-view", `{"token":"tok1","url":"`+c.url+`","platform":"ANDROID"}`, hdr...)
			code, field := r.errCode()
			if r.code != http.StatusForbidden || code != "origin_not_allowed" || field != "url" || r.body["status"] != float64(403) || len(m.all()) != 0 {
				t.Errorf("%d %s, published %d", r.code, r.raw, len(m.all()))
			}
		})
	}
}

// clientRoutes are the 13 client API paths.
var clientRoutes = []string{"init", "attribution-data", "trigger", "capture-event", "capture-payment",
	"remove-captured-payment", "set-user-data", "update-push-token", "integrations", "handle-deeplink",
	"customer-user-id", "deeplink-triggered", "capture-page-view"}

// minimalBodies are accepted bodies of each route, without the token.
var minimalBodies = map[string]string{
	"init":                    `"install_instance_id":"i1"`,
	"attribution-data":        `"install_instance_id":"i1"`,
	"trigger":                 `"install_instance_id":"i1","user_data":{"id":"u1"}`,
	"capture-event":           `"install_instance_id":"i1","event_name":"open"`,
	"capture-payment":         `"install_instance_id":"i1","amount":1,"payment_id":"p-1"`,
	"remove-captured-payment": `"install_instance_id":"i1","payment_id":"p-1"`,
	"set-user-data":           `"install_instance_id":"i1","user_data":{"id":"u1"}`,
	"update-push-token":       `"install_instance_id":"i1","push_token":"pt"`,
	"integrations":            `"install_instance_id":"i1","integration_info":{"clevertap_id":"c"}`,
	"handle-deeplink":         `"install_instance_id":"i1","deeplink_url":"https://demo.example.link/c/summer"`,
	"customer-user-id":        `"install_instance_id":"i1","user_id":"u1"`,
	"deeplink-triggered":      `"install_instance_id":"i1"`,
	"capture-page-view":       `"url":"https://demo.example.link/c/summer","platform":"ANDROID"`,
}

func minimal(route string) string { return `{"token":"tok1",` + minimalBodies[route] + `}` }

// badCase is one refused request.
type badCase struct {
	name, body  string
	status      int
	code, field string
}

// Bad input on every route: the right status and error code, the field
// named, a message, and nothing published.
func TestContractBadInput(t *testing.T) {
	big := `{"token":"tok1","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	common := []badCase{
		{"malformed JSON", `{"token":"tok1",`, 400, "invalid_json", ""},
		{"trailing garbage", `{"token":"tok1"} x`, 400, "invalid_json", ""},
		{"array body", `[{"token":"tok1"}]`, 400, "invalid_json", ""},
		{"string body", `"tok1"`, 400, "invalid_json", ""},
		{"number body", `42`, 400, "invalid_json", ""},
		{"null body", `null`, 400, "invalid_json", ""},
		{"empty body", ``, 400, "empty_body", ""},
		{"token a number", `{"token":42}`, 400, "invalid_field", "token"},
		{"token an object", `{"token":{"t":"tok1"}}`, 400, "invalid_field", "token"},
		{"missing token", `{"platform":"IOS","install_instance_id":"i1"}`, 400, "missing_field", "token"},
		{"null token", `{"token":null,"install_instance_id":"i1"}`, 400, "missing_field", "token"},
		{"unknown token", `{"token":"nope","install_instance_id":"i1"}`, 401, "invalid_token", "token"},
		{"platform an object", `{"token":"tok1","platform":{}}`, 400, "invalid_field", "platform"},
		{"oversized", big, 413, "body_too_large", ""},
	}
	perRoute := map[string][]badCase{
		"init": {
			{"device_data a string", `{"token":"tok1","device_data":"x"}`, 400, "invalid_field", "device_data"},
			{"device_data an array", `{"token":"tok1","device_data":[1]}`, 400, "invalid_field", "device_data"},
			{"debug not a boolean", `{"token":"tok1","debug":"maybe"}`, 400, "invalid_field", "debug"},
			{"install id an object", `{"token":"tok1","install_instance_id":{}}`, 400, "invalid_field", "install_instance_id"},
			{"link an array", `{"token":"tok1","link":["x"]}`, 400, "invalid_field", "link"},
		},
		"attribution-data": {
			{"no install id", `{"token":"tok1"}`, 400, "missing_field", "install_instance_id"},
			{"placeholder install id", `{"token":"tok1","install_instance_id":"ERROR_GENERATING_INSTALL_INSTANCE_ID"}`, 400, "missing_field", "install_instance_id"},
			{"install id an array", `{"token":"tok1","install_instance_id":[1]}`, 400, "invalid_field", "install_instance_id"},
		},
		"trigger": {
			{"user_data a string", `{"token":"tok1","user_data":"x"}`, 400, "invalid_field", "user_data"},
			{"user_data a number", `{"token":"tok1","user_data":5}`, 400, "invalid_field", "user_data"},
			{"data a number", `{"token":"tok1","data":5}`, 400, "invalid_field", "data"},
			{"data.device_data a number", `{"token":"tok1","data":{"device_data":5}}`, 400, "invalid_field", "device_data"},
			{"time_since_app_install not a number", `{"token":"tok1","time_since_app_install":"abc"}`, 400, "invalid_field", "time_since_app_install"},
			{"time_since_app_install NaN", `{"token":"tok1","time_since_app_install":"NaN"}`, 400, "invalid_field", "time_since_app_install"},
		},
		"capture-event": {
			{"no event_name", `{"token":"tok1","event_data":{}}`, 400, "missing_field", "event_name"},
			{"blank event_name", `{"token":"tok1","event_name":"  "}`, 400, "missing_field", "event_name"},
			{"event_name an object", `{"token":"tok1","event_name":{}}`, 400, "invalid_field", "event_name"},
			{"event_data a number", `{"token":"tok1","event_name":"e","event_data":5}`, 400, "invalid_field", "event_data"},
			{"event_data a string not holding an object", `{"token":"tok1","event_name":"e","event_data":"[1]"}`, 400, "invalid_field", "event_data"},
			{"event_data an array", `{"token":"tok1","event_name":"e","event_data":[1]}`, 400, "invalid_field", "event_data"},
			{"time_since_app_install Infinity", `{"token":"tok1","event_name":"e","time_since_app_install":"Infinity"}`, 400, "invalid_field", "time_since_app_install"},
		},
		"capture-payment": {
			{"no amount", `{"token":"tok1","payment_id":"p"}`, 400, "missing_field", "amount"},
			{"amount abc", `{"token":"tok1","amount":"abc"}`, 400, "invalid_field", "amount"},
			{"amount an object", `{"token":"tok1","amount":{}}`, 400, "invalid_field", "amount"},
			{"amount a boolean", `{"token":"tok1","amount":true}`, 400, "invalid_field", "amount"},
			{"amount negative", `{"token":"tok1","amount":-1}`, 400, "invalid_field", "amount"},
			{"amount NaN", `{"token":"tok1","amount":"NaN"}`, 400, "invalid_field", "amount"},
			{"amount Inf", `{"token":"tok1","amount":"+Inf"}`, 400, "invalid_field", "amount"},
			{"amount out of range", `{"token":"tok1","amount":1e400}`, 400, "invalid_field", "amount"},
			{"event_data a number", `{"token":"tok1","amount":1,"event_data":5}`, 400, "invalid_field", "event_data"},
			{"payment_id an object", `{"token":"tok1","amount":1,"payment_id":{}}`, 400, "invalid_field", "payment_id"},
			{"type an array", `{"token":"tok1","amount":1,"type":[]}`, 400, "invalid_field", "type"},
			{"type with a colon", `{"token":"tok1","amount":1,"type":"FIRST:X","payment_id":"p"}`, 400, "invalid_field", "type"},
			{"data a string", `{"token":"tok1","amount":1,"data":"x"}`, 400, "invalid_field", "data"},
		},
		"remove-captured-payment": {
			{"neither payment_id nor user_id", `{"token":"tok1","install_instance_id":"i1"}`, 400, "missing_field", "payment_id"},
			{"both blank", `{"token":"tok1","payment_id":" ","user_id":""}`, 400, "missing_field", "payment_id"},
			{"payment_id an array", `{"token":"tok1","payment_id":[1]}`, 400, "invalid_field", "payment_id"},
			{"user_id an object", `{"token":"tok1","user_id":{}}`, 400, "invalid_field", "user_id"},
		},
		"set-user-data": {
			{"no user_data", `{"token":"tok1","install_instance_id":"i1"}`, 400, "missing_field", "user_data"},
			{"user_data null", `{"token":"tok1","user_data":null}`, 400, "missing_field", "user_data"},
			{"user_data a string", `{"token":"tok1","user_data":"x"}`, 400, "invalid_field", "user_data"},
			{"device_data a number", `{"token":"tok1","user_data":{"id":"u"},"device_data":5}`, 400, "invalid_field", "device_data"},
		},
		"update-push-token": {
			{"no push_token", `{"token":"tok1"}`, 400, "missing_field", "push_token"},
			{"blank push_token", `{"token":"tok1","push_token":""}`, 400, "missing_field", "push_token"},
			{"push_token an object", `{"token":"tok1","push_token":{}}`, 400, "invalid_field", "push_token"},
		},
		"integrations": {
			{"no integration_info", `{"token":"tok1"}`, 400, "missing_field", "integration_info"},
			{"integration_info a number", `{"token":"tok1","integration_info":5}`, 400, "invalid_field", "integration_info"},
		},
		"handle-deeplink": {
			{"no deeplink_url", `{"token":"tok1"}`, 400, "missing_field", "deeplink_url"},
			{"deeplink_url an object", `{"token":"tok1","deeplink_url":{}}`, 400, "invalid_field", "deeplink_url"},
			{"timestamp abc", `{"token":"tok1","deeplink_url":"https://x.example","timestamp":"abc"}`, 400, "invalid_field", "timestamp"},
			{"meta_install_referrer a number", `{"token":"tok1","deeplink_url":"https://x.example","meta_install_referrer":5}`, 400, "invalid_field", "meta_install_referrer"},
		},
		"customer-user-id": {
			{"no user_id", `{"token":"tok1"}`, 400, "missing_field", "user_id"},
			{"blank user_id", `{"token":"tok1","user_id":" "}`, 400, "missing_field", "user_id"},
			{"user_id an array", `{"token":"tok1","user_id":[]}`, 400, "invalid_field", "user_id"},
		},
		"deeplink-triggered": {
			{"device_data a number", `{"token":"tok1","device_data":5}`, 400, "invalid_field", "device_data"},
		},
		"capture-page-view": {
			{"no url", `{"token":"tok1"}`, 400, "missing_field", "url"},
			{"url relative", `{"token":"tok1","url":"/c/summer"}`, 400, "invalid_field", "url"},
			{"url an object", `{"token":"tok1","url":{}}`, 400, "invalid_field", "url"},
			{"referrer an object", `{"token":"tok1","url":"https://demo.example.link/","referrer":{}}`, 400, "invalid_field", "referrer"},
		},
	}
	for _, route := range clientRoutes {
		for _, c := range append(append([]badCase(nil), common...), perRoute[route]...) {
			t.Run(route+"/"+c.name, func(t *testing.T) {
				m, h := newContractServer(t, nil)
				r := send(t, h, "/api/client/"+route, c.body)
				checkRefused(t, r, c.status, c.code, c.field)
				if n := len(m.all()); n != 0 {
					t.Errorf("published %d records", n)
				}
			})
		}
	}
}

// checkRefused requires an error answer: status, code, field, message.
func checkRefused(t *testing.T, r reply, status int, code, field string) {
	t.Helper()
	gotCode, gotField := r.errCode()
	if r.code != status || r.body["status"] != float64(status) || gotCode != code || gotField != field {
		t.Errorf("got %d %s, want %d %s field %q", r.code, r.raw, status, code, field)
	}
	if msg, _ := r.body["msg"].(string); msg == "" {
		t.Errorf("no msg: %s", r.raw)
	}
}

// Transport-level refusals on every route: wrong content type, rate
// limited (with Retry-After), and the project source down.
func TestContractRefusalsEveryRoute(t *testing.T) {
	for _, route := range clientRoutes {
		t.Run(route, func(t *testing.T) {
			m, h := newContractServer(t, nil)
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
				r := send(t, h, "/api/client/"+route, minimal(route), "Content-Type", ct)
				checkRefused(t, r, 415, "unsupported_media_type", "")
			}
			if n := len(m.all()); n != 0 {
				t.Errorf("published %d records", n)
			}
			// The body is accepted as it is.
			r := send(t, h, "/api/client/"+route, minimal(route), "Origin", "https://demo.example.link")
			if r.code/100 != 2 {
				t.Fatalf("minimal body: %d %s", r.code, r.raw)
			}

			clock := now
			lim := ratelimit.NewLocal(ratelimit.WithClock(func() time.Time { return clock }))
			m, h = newContractServer(t, nil, WithRateLimit(lim, ratelimit.PerSecond(1)))
			if r := send(t, h, "/api/client/"+route, minimal(route)); r.code/100 != 2 {
				t.Fatalf("first request: %d %s", r.code, r.raw)
			}
			before := len(m.all())
			r = send(t, h, "/api/client/"+route, minimal(route))
			checkRefused(t, r, 429, "rate_limited", "")
			if ra := r.hdr.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After %q", ra)
			}
			if len(m.all()) != before {
				t.Error("a rate-limited request was published")
			}
		})
	}
}

// filepathGlob lists the shared SDK fixtures matching pattern, by name.
func filepathGlob(pattern string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(fixtureDir, pattern))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names, nil
}

// A project's own client_rate_limit (catalog setting) replaces the
// gateway's default.
func TestContractProjectRateLimit(t *testing.T) {
	cat := contractCatalogWith(t, func(c *catalog.Catalog) {
		c.Projects[0].Settings.ClientRateLimit = catalog.Always(1)
	})
	clock := now
	lim := ratelimit.NewLocal(ratelimit.WithClock(func() time.Time { return clock }))
	m, h := newContractServer(t, cat, WithRateLimit(lim, ratelimit.PerSecond(100)))
	if r := send(t, h, "/api/client/capture-event", minimal("capture-event")); r.code != 200 {
		t.Fatalf("first: %d %s", r.code, r.raw)
	}
	r := send(t, h, "/api/client/capture-event", minimal("capture-event"))
	checkRefused(t, r, 429, "rate_limited", "")
	if r.hdr.Get("Retry-After") == "" || len(m.all()) != 1 {
		t.Errorf("Retry-After %q, published %d", r.hdr.Get("Retry-After"), len(m.all()))
	}
	// The other project keeps the default.
	for i := range 5 {
		if r := send(t, h, "/api/client/capture-event", `{"token":"tok2","event_name":"e"}`); r.code != 200 {
			t.Fatalf("other project, request %d: %d", i, r.code)
		}
	}
}
