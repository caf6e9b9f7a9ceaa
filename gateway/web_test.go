package gateway

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/clientip"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/gateway/webseal"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const (
	webFixtures       = "testdata/web-sdk"
	sharedWebFixtures = "../../shared/fixtures/web-sdk"
	webToken          = "WEB_TOKEN"
)

// webFixture reads a web SDK body from the package's copies.
func webFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(webFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func webFixtureNames(t *testing.T) []string {
	t.Helper()
	files, err := os.ReadDir(webFixtures)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".json") {
			out = append(out, f.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no web fixtures")
	}
	return out
}

// TestWebFixtureCopies keeps testdata/web-sdk equal to the shared
// fixtures when they are present.
func TestWebFixtureCopies(t *testing.T) {
	originals, err := os.ReadDir(sharedWebFixtures)
	if os.IsNotExist(err) {
		t.Skip("shared web SDK fixtures not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range originals {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		names = append(names, f.Name())
		want, err := os.ReadFile(filepath.Join(sharedWebFixtures, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(webFixtures, f.Name()))
		if err != nil {
			t.Errorf("%s is not copied into %s", f.Name(), webFixtures)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from the shared fixture", webFixtures, f.Name())
		}
	}
	for _, n := range webFixtureNames(t) {
		if !slices.Contains(names, n) {
			t.Errorf("%s/%s has no shared original", webFixtures, n)
		}
	}
}

// memClicks is a click spool that keeps what it is given.
type memClicks struct {
	mu   sync.Mutex
	recs []stream.Record
}

func (m *memClicks) Enqueue(_ context.Context, rec stream.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, rec)
	return nil
}

type fixedGeo struct{}

func (fixedGeo) Lookup(ip string) codecs.Geo {
	if ip == "198.51.100.23" {
		return codecs.Geo{Country: "IN", Region: "KA", City: "Bengaluru"}
	}
	return codecs.Geo{}
}

// webKey is the test project's web collector key.
var webKey, _ = webseal.GenerateKey()

type webServer struct {
	mem    *memTopic
	clicks *memClicks
	h      http.Handler
}

// newWebServer serves project p1 (token WEB_TOKEN, web key "k1" active,
// "k0" inactive) and p2 (token OTHER_TOKEN, key "k2"); 10.0.0.0/8 are
// trusted proxies.
func newWebServer(t *testing.T, withSpool bool, opts ...Option) webServer {
	t.Helper()
	other, _ := webseal.GenerateKey()
	projects, err := catalog.NewStatic(
		catalog.Project{ID: "p1", Token: webToken, WebKeys: []catalog.WebKey{
			{KeyID: "k1", PrivateKey: webseal.EncodePrivateKey(webKey), Active: true},
			{KeyID: "k0", PrivateKey: webseal.EncodePrivateKey(other), Active: false}}},
		catalog.Project{ID: "p2", Token: "OTHER_TOKEN", WebKeys: []catalog.WebKey{
			{KeyID: "k2", PrivateKey: webseal.EncodePrivateKey(other), Active: true}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	ips, err := clientip.New([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	ws := webServer{mem: newMem(), clicks: &memClicks{}}
	deps := Deps{Publisher: ws.mem, Decisions: ws.mem, Projects: projects, Geo: fixedGeo{}, NotReady: func() []string { return nil }}
	if withSpool {
		deps.Clicks = ws.clicks
	}
	ws.h = New(deps, append([]Option{WithClock(func() time.Time { return now }), WithClientIP(ips.IP)}, opts...)...).Handler()
	return ws
}

type webReq struct {
	path, contentType, origin, peer, visitorIP string
	body                                       []byte
}

func (ws webServer) post(t *testing.T, q webReq) *httptest.ResponseRecorder {
	t.Helper()
	if q.path == "" {
		q.path = "/web/ingest"
	}
	r := httptest.NewRequest(http.MethodPost, q.path, bytes.NewReader(q.body))
	if q.contentType == "" {
		q.contentType = "application/json"
	}
	r.Header.Set("Content-Type", q.contentType)
	if q.origin != "" {
		r.Header.Set("Origin", q.origin)
	}
	if q.peer != "" {
		r.RemoteAddr = q.peer
	}
	if q.visitorIP != "" {
		r.Header.Set(clientip.HeaderVisitorIP, q.visitorIP)
	}
	w := httptest.NewRecorder()
	ws.h.ServeHTTP(w, r)
	return w
}

// records decodes what went to topic into a fresh value of T each.
func records[T any](t *testing.T, recs []stream.Record, topic string) (keys []string, out []T) {
	t.Helper()
	for _, r := range recs {
		if r.Topic != topic {
			continue
		}
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		keys, out = append(keys, r.Key), append(out, v)
	}
	return keys, out
}

func okAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"ok":true}` {
		t.Fatalf("answered %d %s", w.Code, w.Body.String())
	}
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	var env struct {
		Msg   string `json:"msg"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("answered %d with a body that is not JSON: %q", w.Code, w.Body.String())
	}
	if w.Code != status || env.Error.Code != code {
		t.Fatalf("answered %d %s, want %d %s", w.Code, w.Body.String(), status, code)
	}
	return env.Msg
}

// Every recorded web SDK body is accepted on both paths, matches the
// OpenAPI schema, and becomes one event keyed project:web:visitor.
func TestWebFixturesAccepted(t *testing.T) {
	c := openAPICompiler(t)
	schema, err := c.Compile("openapi.json#/components/schemas/WebEvent")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{"page_view": codecs.EventWebPageView, "custom": codecs.EventWebCustom, "identify": codecs.EventWebIdentify}
	for _, name := range webFixtureNames(t) {
		for _, path := range []string{"/web/ingest", "/web/collect"} {
			t.Run(name+path, func(t *testing.T) {
				body := webFixture(t, name)
				inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if err := schema.Validate(inst); err != nil {
					t.Errorf("does not match WebEvent: %v", err)
				}
				ws := newWebServer(t, false)
				w := ws.post(t, webReq{path: path, body: body, origin: "https://shop.example"})
				okAnswer(t, w)
				if got := w.Header().Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
					t.Errorf("Access-Control-Allow-Origin %q", got)
				}
				var in map[string]any
				_ = json.Unmarshal(body, &in)
				keys, evs := records[codecs.Event](t, ws.mem.all(), TopicEvents)
				if len(evs) != 1 {
					t.Fatalf("%d events", len(evs))
				}
				ev := evs[0]
				if keys[0] != "p1:web:"+in["visitor_id"].(string) || ev.InstallID != "web:"+in["visitor_id"].(string) {
					t.Errorf("key %s, install id %s", keys[0], ev.InstallID)
				}
				if ev.Kind != kinds[in["event_type"].(string)] || ev.EventID != in["event_id"] || ev.ProjectID != "p1" ||
					ev.EventName != in["event_name"] || ev.UserID != in["user_id"] || !ev.ReceivedAt.Equal(now) {
					t.Errorf("event %+v", ev)
				}
				if bytes.Contains(ev.Extra, []byte(webToken)) {
					t.Error("the token is published")
				}
				var extra map[string]any
				_ = json.Unmarshal(ev.Extra, &extra)
				if extra["page_title"] != "LR test" || extra["ft_traffic_source_type"] != "direct" || extra["visitor_id"] != in["visitor_id"] {
					t.Errorf("unknown keys are not kept: %v", extra)
				}
			})
		}
	}
}

// The custom event's event_data, a JSON string, is published as an
// object; an object (Shopify pixel) stays one; other values are kept.
func TestWebEventData(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{`"{\"name\":\"N\",\"email\":\"e@x.io\",\"amount\":9.5}"`, `{"name":"N","email":"e@x.io","amount":9.5}`},
		{`{"order": {"total": 12}}`, `{"order":{"total":12}}`},
		{`""`, ``},
		{`null`, ``},
		{`"[1,2]"`, `{"value":[1,2]}`},
		{`"not json"`, `{"value":"not json"}`},
		{`42`, `{"value":42}`},
	} {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(webFixture(t, "04-custom-signup.json"), &m)
		m["event_data"] = json.RawMessage(c.data)
		body, _ := json.Marshal(m)
		ws := newWebServer(t, false)
		okAnswer(t, ws.post(t, webReq{body: body}))
		_, evs := records[codecs.Event](t, ws.mem.all(), TopicEvents)
		if len(evs) != 1 || string(evs[0].Data) != c.want {
			t.Errorf("event_data %s: published %s, want %s", c.data, evs[0].Data, c.want)
		}
	}
}

// An identify with a user id links the user to the visitor.
func TestWebIdentifyLinksUser(t *testing.T) {
	ws := newWebServer(t, false)
	okAnswer(t, ws.post(t, webReq{body: webFixture(t, "03-identify-identify.json")}))
	keys, links := records[codecs.UserLink](t, ws.mem.all(), TopicUserLinks)
	if len(links) != 1 || keys[0] != "p1:user_42" {
		t.Fatalf("user links %v %+v", keys, links)
	}
	want := codecs.UserLink{ProjectID: "p1", UserID: "user_42", VisitorID: "cc5a9d9a-ecf4-4089-8e63-ab6b6aba469a",
		Source: "web", RequestID: links[0].RequestID, ReceivedAt: now}
	if links[0] != want || want.RequestID == "" {
		t.Errorf("link %+v, want %+v", links[0], want)
	}
	// a custom event with a user id links nothing
	ws = newWebServer(t, false)
	okAnswer(t, ws.post(t, webReq{body: webFixture(t, "04-custom-signup.json")}))
	if _, links := records[codecs.UserLink](t, ws.mem.all(), TopicUserLinks); len(links) != 0 {
		t.Errorf("custom event linked %+v", links)
	}
}

// The landing page view with gclid becomes a click on `clicks` with the
// visitor's address from X-Linkrunner-Visitor-IP behind a trusted proxy.
func TestWebPageViewWithGclidIsAClick(t *testing.T) {
	body := webFixture(t, "05-page_view-android-gclid-utm.json")
	for _, c := range []struct {
		name, peer, wantIP string
		spool              bool
		geo                codecs.Geo
	}{
		{"trusted proxy", "10.2.3.4:443", "198.51.100.23", false, codecs.Geo{Country: "IN", Region: "KA", City: "Bengaluru"}},
		{"trusted proxy, click spool", "10.2.3.4:443", "198.51.100.23", true, codecs.Geo{Country: "IN", Region: "KA", City: "Bengaluru"}},
		{"untrusted peer", "203.0.113.5:5555", "203.0.113.5", false, codecs.Geo{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := newWebServer(t, c.spool)
			okAnswer(t, ws.post(t, webReq{body: body, peer: c.peer, visitorIP: "198.51.100.23"}))
			recs := ws.mem.all()
			if c.spool {
				if _, clicks := records[codecs.Click](t, recs, TopicClicks); len(clicks) != 0 {
					t.Fatal("a click went to the publisher although a click spool is set")
				}
				recs = ws.clicks.recs
			}
			keys, clicks := records[codecs.Click](t, recs, TopicClicks)
			if len(clicks) != 1 {
				t.Fatalf("%d clicks", len(clicks))
			}
			got := clicks[0]
			if keys[0] != got.ClickID || got.ClickID == "" || got.RequestID == "" {
				t.Errorf("key %s, click %+v", keys[0], got)
			}
			want := codecs.Click{ClickID: got.ClickID, ProjectID: "p1", Source: "web",
				URL:       "http://127.0.0.1:8788/landing?utm_source=google&utm_medium=cpc&utm_campaign=summer_sale&gclid=Cj0KCQiA_test_gclid_123&gad_campaignid=21987654321&fbclid=IwAR_test_fbclid",
				Platform:  "ANDROID",
				ClientIP:  c.wantIP,
				UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
				VisitorID: "9c1a85e4-88f6-4388-8df4-6e0e7863b5bb", SessionID: "2ecf552c-c5dc-411e-aa49-e645a8b22e41",
				Geo: c.geo,
				Params: map[string]string{"gclid": "Cj0KCQiA_test_gclid_123", "gad_campaignid": "21987654321",
					"fbclid": "IwAR_test_fbclid", "fbc": "fb.1.1795624991698.IwAR_test_fbclid",
					"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "summer_sale"},
				RequestID: got.RequestID, ReceivedAt: now}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("click\n%+v\nwant\n%+v", got, want)
			}
			_, evs := records[codecs.Event](t, ws.mem.all(), TopicEvents)
			if len(evs) != 1 || evs[0].Kind != codecs.EventWebPageView || evs[0].ClientIP != c.wantIP {
				t.Errorf("events %+v", evs)
			}
		})
	}
	// a page view without click ids or UTMs is no click, nor is a bot's
	var bot map[string]any
	_ = json.Unmarshal(body, &bot)
	bot["is_bot"] = 1
	botBody, _ := json.Marshal(bot)
	for _, b := range [][]byte{webFixture(t, "02-page_view-noname.json"), botBody} {
		ws := newWebServer(t, false)
		okAnswer(t, ws.post(t, webReq{body: b}))
		if _, clicks := records[codecs.Click](t, ws.mem.all(), TopicClicks); len(clicks) != 0 {
			t.Errorf("clicks %+v", clicks)
		}
		if _, evs := records[codecs.Event](t, ws.mem.all(), TopicEvents); len(evs) != 1 {
			t.Errorf("%d events", len(evs))
		}
	}
	// UTMs alone (no click id) make a click too
	delete(bot, "is_bot")
	for _, k := range []string{"gclid", "fbclid", "fbc", "ft_gclid"} {
		bot[k] = ""
	}
	bot["page_url"] = "https://shop.example/landing?utm_source=newsletter"
	bot["utm_source"], bot["utm_medium"], bot["utm_campaign"] = "newsletter", "", ""
	utmBody, _ := json.Marshal(bot)
	ws := newWebServer(t, false)
	okAnswer(t, ws.post(t, webReq{body: utmBody}))
	if _, clicks := records[codecs.Click](t, ws.mem.all(), TopicClicks); len(clicks) != 1 ||
		!reflect.DeepEqual(clicks[0].Params, map[string]string{"utm_source": "newsletter"}) {
		t.Errorf("UTM-only page view: clicks %+v", clicks)
	}
}

func TestWebPreflight(t *testing.T) {
	ws := newWebServer(t, false)
	for _, path := range []string{"/web/ingest", "/web/collect"} {
		r := httptest.NewRequest(http.MethodOptions, path, nil)
		r.Header.Set("Origin", "https://shop.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type")
		w := httptest.NewRecorder()
		ws.h.ServeHTTP(w, r)
		h := w.Header()
		if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
			h.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" || h.Get("Access-Control-Allow-Headers") != "content-type" ||
			h.Get("Access-Control-Max-Age") == "" {
			t.Errorf("%s: %d %v", path, w.Code, h)
		}
	}
	if len(ws.mem.all()) != 0 {
		t.Error("a preflight published")
	}
}

// sendBeacon posts text/plain; other types are refused; 64 KB at most.
func TestWebBodyTypesAndLimit(t *testing.T) {
	ws := newWebServer(t, false)
	body := webFixture(t, "01-custom-queued_before_load.json")
	okAnswer(t, ws.post(t, webReq{body: body, contentType: "text/plain;charset=UTF-8"}))
	w := ws.post(t, webReq{body: body, contentType: "application/x-www-form-urlencoded", origin: "https://a.example"})
	errorCode(t, w, http.StatusUnsupportedMediaType, "unsupported_media_type")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://a.example" {
		t.Error("an error answer has no Access-Control-Allow-Origin")
	}

	var m map[string]any
	_ = json.Unmarshal(body, &m)
	m["page_title"] = strings.Repeat("x", webMaxBody)
	big, _ := json.Marshal(m)
	errorCode(t, ws.post(t, webReq{body: big}), http.StatusRequestEntityTooLarge, "body_too_large")
	// just under the limit is fine
	m["page_title"] = ""
	small, _ := json.Marshal(m)
	m["page_title"] = strings.Repeat("x", webMaxBody-len(small))
	fits, _ := json.Marshal(m)
	if len(fits) != webMaxBody {
		t.Fatalf("%d bytes", len(fits))
	}
	okAnswer(t, ws.post(t, webReq{body: fits}))
}

func TestWebBadRequests(t *testing.T) {
	ws := newWebServer(t, false)
	errorCode(t, ws.post(t, webReq{body: []byte(`{"token":`)}), http.StatusBadRequest, "invalid_json")
	errorCode(t, ws.post(t, webReq{body: []byte(`[]`)}), http.StatusBadRequest, "invalid_json")
	errorCode(t, ws.post(t, webReq{body: []byte(`{"token":"nope","event_type":"custom"}`)}), http.StatusUnauthorized, "invalid_token")
	errorCode(t, ws.post(t, webReq{body: []byte(`{"event_type":"custom"}`)}), http.StatusBadRequest, "missing_field")
	errorCode(t, ws.post(t, webReq{body: []byte(`{"token":"WEB_TOKEN","event_type":"click"}`)}), http.StatusBadRequest, "invalid_field")
	errorCode(t, ws.post(t, webReq{body: []byte(`{"token":"WEB_TOKEN"}`)}), http.StatusBadRequest, "missing_field")
	if n := len(ws.mem.all()); n != 0 {
		t.Errorf("%d records published for refused requests", n)
	}
	// a body without visitor_id gets a minted one
	okAnswer(t, ws.post(t, webReq{body: []byte(`{"token":"WEB_TOKEN","event_type":"custom","event_name":"x"}`)}))
	_, evs := records[codecs.Event](t, ws.mem.all(), TopicEvents)
	if len(evs) != 1 || !evs[0].MintedID || !strings.HasPrefix(evs[0].InstallID, "web:") {
		t.Errorf("events %+v", evs)
	}
}

func TestWebRateLimited(t *testing.T) {
	lim := ratelimit.NewLocal(ratelimit.WithClock(func() time.Time { return now }))
	ws := newWebServer(t, false, WithRateLimit(lim, ratelimit.PerSecond(1)))
	body := webFixture(t, "02-page_view-noname.json")
	okAnswer(t, ws.post(t, webReq{body: body}))
	errorCode(t, ws.post(t, webReq{body: body}), http.StatusTooManyRequests, "rate_limited")
}

func seal(t *testing.T, body []byte, pub *ecdh.PublicKey, kid string) []byte {
	t.Helper()
	env, err := webseal.Seal(body, pub, kid)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	return b
}

// A sealed body opens with the project's key and is taken like its
// cleartext; a body sealed for another key is refused naming the problem.
func TestWebSealedBody(t *testing.T) {
	body := webFixture(t, "05-page_view-android-gclid-utm.json")
	ws := newWebServer(t, false)
	okAnswer(t, ws.post(t, webReq{body: seal(t, body, webKey.PublicKey(), "k1"), contentType: "text/plain"}))
	clear := newWebServer(t, false)
	okAnswer(t, clear.post(t, webReq{body: body}))
	_, sealedEvs := records[codecs.Event](t, ws.mem.all(), TopicEvents)
	_, clearEvs := records[codecs.Event](t, clear.mem.all(), TopicEvents)
	if len(sealedEvs) != 1 || len(clearEvs) != 1 {
		t.Fatalf("%d and %d events", len(sealedEvs), len(clearEvs))
	}
	sealedEvs[0].RequestID, clearEvs[0].RequestID = "", ""
	if !reflect.DeepEqual(sealedEvs[0], clearEvs[0]) {
		t.Errorf("sealed event\n%+v\ncleartext event\n%+v", sealedEvs[0], clearEvs[0])
	}
	if _, clicks := records[codecs.Click](t, ws.mem.all(), TopicClicks); len(clicks) != 1 {
		t.Errorf("%d clicks from the sealed page view", len(clicks))
	}

	wrong, _ := webseal.GenerateKey()
	other := func(f func(map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name   string
		body   []byte
		status int
		code   string
		msg    string
	}{
		{"wrong key", seal(t, body, wrong.PublicKey(), "k1"), 400, "invalid_envelope", "does not open"},
		{"unknown key id", seal(t, body, webKey.PublicKey(), "nope"), 400, "unknown_key", `"nope"`},
		{"inactive key", seal(t, body, webKey.PublicKey(), "k0"), 400, "inactive_key", "not active"},
		{"wrong version", []byte(`{"lrv":2,"kid":"k1","epk":"","iv":"","ct":""}`), 400, "invalid_envelope", "version"},
		{"bad point", []byte(`{"lrv":1,"kid":"k1","epk":"BAAA","iv":"AAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAA"}`), 400, "invalid_envelope", "epk"},
		{"another project's token inside", seal(t, other(func(m map[string]any) { m["token"] = "OTHER_TOKEN" }), webKey.PublicKey(), "k1"),
			401, "invalid_token", "sealed"},
		{"unknown token inside", seal(t, other(func(m map[string]any) { m["token"] = "nope" }), webKey.PublicKey(), "k1"),
			401, "invalid_token", ""},
		{"not JSON inside", seal(t, []byte("hello"), webKey.PublicKey(), "k1"), 400, "invalid_json", "sealed body"},
	}
	for _, c := range cases {
		ws := newWebServer(t, false)
		msg := errorCode(t, ws.post(t, webReq{body: c.body}), c.status, c.code)
		if !strings.Contains(msg, c.msg) {
			t.Errorf("%s: message %q does not say %q", c.name, msg, c.msg)
		}
		if len(ws.mem.all()) != 0 {
			t.Errorf("%s: published", c.name)
		}
	}
}

// The envelope another implementation made opens through the handler.
func TestWebSealedIndependentVector(t *testing.T) {
	b, err := os.ReadFile("webseal/testdata/vector-python.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Key      string          `json:"server_private_key"`
		KeyID    string          `json:"key_id"`
		Envelope json.RawMessage `json:"envelope"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	projects, err := catalog.NewStatic(catalog.Project{ID: "p1", Token: webToken,
		WebKeys: []catalog.WebKey{{KeyID: v.KeyID, PrivateKey: v.Key, Active: true}}})
	if err != nil {
		t.Fatal(err)
	}
	mem := newMem()
	h := New(Deps{Publisher: mem, Decisions: mem, Projects: projects, NotReady: func() []string { return nil }}).Handler()
	ws := webServer{mem: mem, h: h}
	okAnswer(t, ws.post(t, webReq{body: v.Envelope}))
	_, evs := records[codecs.Event](t, mem.all(), TopicEvents)
	if len(evs) != 1 || evs[0].EventName != "signup" || string(evs[0].Data) != `{"plan":"pro"}` || evs[0].InstallID != "web:v-1" {
		t.Errorf("events %+v", evs)
	}
}
