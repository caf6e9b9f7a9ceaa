package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// memTopic is an in-process stand-in for the broker plus the decisions
// view: what is published can be read back.
type memTopic struct {
	mu        sync.Mutex
	recs      []stream.Record
	decisions map[string]*codecs.Decision
	err       error
}

func newMem() *memTopic { return &memTopic{decisions: map[string]*codecs.Decision{}} }

func (m *memTopic) Publish(_ context.Context, rec stream.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	m.recs = append(m.recs, rec)
	return false, nil
}

func (m *memTopic) Get(key string) (*codecs.Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return m.decisions[key], nil
}

// all returns every published record.
func (m *memTopic) all() []stream.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]stream.Record(nil), m.recs...)
}

// installs decodes what was published to installs, by key.
func (m *memTopic) installs() map[string][]*codecs.Install {
	out := map[string][]*codecs.Install{}
	for _, r := range m.all() {
		if r.Topic != TopicInstalls {
			continue
		}
		var in codecs.Install
		if err := json.Unmarshal(r.Value, &in); err != nil {
			panic(err)
		}
		out[r.Key] = append(out[r.Key], &in)
	}
	return out
}

var now = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

func newTestServer(t testing.TB) (*memTopic, http.Handler) {
	t.Helper()
	projects, err := catalog.NewStatic(catalog.Project{ID: "p1", Token: "tok1"})
	if err != nil {
		t.Fatal(err)
	}
	m := newMem()
	s := New(Deps{Publisher: m, Decisions: m, Projects: projects, NotReady: func() []string { return nil }},
		WithClock(func() time.Time { return now }))
	return m, s.Handler()
}

func do(t *testing.T, h http.Handler, path, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s answered %d with a body that is not a JSON object: %q", path, w.Code, w.Body.String())
	}
	return w.Code, out
}

// fixtureDir holds the shared SDK request fixtures.
var fixtureDir = filepath.Join("..", "..", "shared", "fixtures", "sdk")

// fixture returns a body from the shared SDK fixtures with the token
// replaced by the test project's.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["token"] = "tok1"
	out, _ := json.Marshal(m)
	return string(out)
}

func TestInitFixturesAccepted(t *testing.T) {
	for _, name := range []string{"ios-4.0.1-init.json", "android-sdkless-init.json", "legacy-rn-init.json"} {
		t.Run(name, func(t *testing.T) {
			m, h := newTestServer(t)
			code, out := do(t, h, "/api/client/init", fixture(t, name))
			if code != http.StatusAccepted || out["status"] != "accepted" || out["success"] != true ||
				out["message"] != "Install event accepted for processing" || out["processing_id"] == "" {
				t.Fatalf("init answered %d %v", code, out)
			}
			if len(m.installs()) != 1 {
				t.Fatalf("published %d keys, want 1", len(m.installs()))
			}
			for key, msgs := range m.installs() {
				in := msgs[0]
				if key != "p1:"+in.InstallID || in.ProjectID != "p1" || in.RequestID != out["processing_id"] ||
					!in.ReceivedAt.Equal(now) || in.ClientIP == "" {
					t.Errorf("published %s → %+v", key, in)
				}
			}
		})
	}
}

func TestPlaceholderInstallIDsAreMinted(t *testing.T) {
	for _, id := range []string{`"ERROR_GENERATING_INSTALL_INSTANCE_ID"`, `"ERROR_GENERAING_INSTALL_INSTANCE_ID"`, `""`, `null`} {
		m, h := newTestServer(t)
		code, _ := do(t, h, "/api/client/init", `{"token":"tok1","platform":"IOS","install_instance_id":`+id+`}`)
		if code != http.StatusAccepted {
			t.Fatalf("%s: %d", id, code)
		}
		for key, msgs := range m.installs() {
			if !msgs[0].MintedID || strings.Contains(key, "ERROR") || key == "p1:" {
				t.Errorf("%s: published under %q minted=%v", id, key, msgs[0].MintedID)
			}
		}
	}
}

func TestBadRequests(t *testing.T) {
	cases := []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"malformed", "/api/client/init", `{"token":`, 400, "invalid_json", ""},
		{"not an object", "/api/client/init", `[1,2]`, 400, "invalid_json", ""},
		{"empty", "/api/client/init", ``, 400, "empty_body", ""},
		{"token wrong type", "/api/client/init", `{"token":42}`, 400, "invalid_field", "token"},
		{"device_data wrong type", "/api/client/init", `{"token":"tok1","device_data":"x"}`, 400, "invalid_field", "device_data"},
		{"missing token", "/api/client/init", `{"platform":"IOS"}`, 400, "missing_field", "token"},
		{"unknown token", "/api/client/init", `{"token":"nope"}`, 401, "invalid_token", "token"},
		{"oversized", "/api/client/init", `{"token":"tok1","pad":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "body_too_large", ""},
		{"attribution unknown token", "/api/client/attribution-data", `{"token":"nope","install_instance_id":"i1"}`, 401, "invalid_token", "token"},
		{"attribution no install", "/api/client/attribution-data", `{"token":"tok1"}`, 400, "missing_field", "install_instance_id"},
		{"unknown route", "/api/client/nope", `{}`, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, h := newTestServer(t)
			code, out := do(t, h, c.path, c.body)
			e, _ := out["error"].(map[string]any)
			if code != c.status || out["status"] != float64(c.status) || e["code"] != c.code || (c.field != "" && e["field"] != c.field) {
				t.Errorf("got %d %v, want %d %s %s", code, out, c.status, c.code, c.field)
			}
			if msg, _ := out["msg"].(string); msg == "" {
				t.Error("no msg naming the problem")
			}
			if len(m.installs()) != 0 {
				t.Error("a rejected request was published")
			}
		})
	}
}

func TestWrongContentType(t *testing.T) {
	_, h := newTestServer(t)
	r := httptest.NewRequest(http.MethodPost, "/api/client/init", strings.NewReader(`{"token":"tok1"}`))
	r.Header.Set("Content-Type", "text/xml")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("got %d", w.Code)
	}
}

func TestBrokerDownAnswers503(t *testing.T) {
	m, h := newTestServer(t)
	m.err = stream.ErrNotReady
	code, out := do(t, h, "/api/client/init", `{"token":"tok1","install_instance_id":"i1"}`)
	if code != http.StatusServiceUnavailable || out["error"].(map[string]any)["code"] != "unavailable" {
		t.Fatalf("got %d %v", code, out)
	}
	code, _ = do(t, h, "/api/client/attribution-data", `{"token":"tok1","install_instance_id":"i1"}`)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("attribution-data with the view down: %d", code)
	}
	m.err = errors.New("emit: kafka: broker not available")
	if code, _ := do(t, h, "/api/client/init", `{"token":"tok1","install_instance_id":"i1"}`); code != 503 {
		t.Fatalf("emit error: %d", code)
	}
}

func TestAttributionDataPendingThenDecided(t *testing.T) {
	m, h := newTestServer(t)
	body := fixture(t, "ios-4.0.1-attribution-data.json")
	var req struct {
		InstallID string `json:"install_instance_id"`
	}
	_ = json.Unmarshal([]byte(body), &req)

	code, out := do(t, h, "/api/client/attribution-data", body)
	data := out["data"].(map[string]any)
	if code != 200 || out["status"] != float64(200) || data["attribution_status"] != "pending" || data["campaign_data"] != nil {
		t.Fatalf("pending: %d %v", code, out)
	}

	m.decisions["p1:"+req.InstallID] = &codecs.Decision{ProjectID: "p1", InstallID: req.InstallID, Version: 2, Source: "META",
		InstalledAt: now.Add(1500 * time.Millisecond), Deeplink: "myapp://x",
		Campaign: &codecs.Campaign{ID: "c1", Name: "Summer", Network: "META"}}
	code, out = do(t, h, "/api/client/attribution-data", body)
	data = out["data"].(map[string]any)
	cd, _ := data["campaign_data"].(map[string]any)
	if code != 200 || data["attribution_source"] != "META" || data["deeplink"] != "myapp://x" || cd == nil {
		t.Fatalf("decided: %d %v", code, out)
	}
	// iOS needs id, name and type as strings and ISO-8601 without fractions.
	if cd["id"] != "c1" || cd["name"] != "Summer" || cd["type"] != "INORGANIC" || cd["installed_at"] != "2026-06-14T10:00:01Z" {
		t.Errorf("campaign_data %v", cd)
	}
}

func TestReadyz(t *testing.T) {
	projects, _ := catalog.NewStatic(catalog.Project{ID: "p1", Token: "tok1"})
	var nr []string = []string{"view-decisions"}
	h := New(Deps{Publisher: newMem(), Decisions: &memTopic{}, Projects: projects, NotReady: func() []string { return nr }}).Handler()
	get := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code
	}
	if get() != 503 {
		t.Fatal("ready while a component is not")
	}
	nr = nil
	if get() != 200 {
		t.Fatal("not ready when all are")
	}
}

// failingProjects is a project source that is not available.
type failingProjects struct{}

func (failingProjects) ProjectByToken(string) (catalog.Project, bool) {
	return catalog.Project{}, false
}
func (failingProjects) LookupToken(string) (catalog.Project, bool, error) {
	return catalog.Project{}, false, stream.ErrNotReady
}

// While the project source cannot answer, a token is not "invalid": 503.
func TestUnavailableProjectsAnswer503(t *testing.T) {
	m := newMem()
	h := New(Deps{Publisher: m, Decisions: m, Projects: failingProjects{}, NotReady: func() []string { return nil }}).Handler()
	code, out := do(t, h, "/api/client/init", `{"token":"tok1","install_instance_id":"i1"}`)
	if code != http.StatusServiceUnavailable || len(m.installs()) != 0 {
		t.Fatalf("got %d %v", code, out)
	}
}

func TestClientIPFromOption(t *testing.T) {
	projects, _ := catalog.NewStatic(catalog.Project{ID: "p1", Token: "tok1"})
	m := newMem()
	h := New(Deps{Publisher: m, Decisions: m, Projects: projects, NotReady: func() []string { return nil }},
		WithClientIP(func(*http.Request) string { return "198.51.100.7" })).Handler()
	if code, _ := do(t, h, "/api/client/init", `{"token":"tok1","install_instance_id":"i1"}`); code != 202 {
		t.Fatal(code)
	}
	if got := m.installs()["p1:i1"][0].ClientIP; got != "198.51.100.7" {
		t.Fatalf("client ip %q", got)
	}
}

func TestRateLimitAnswers429(t *testing.T) {
	projects, _ := catalog.NewStatic(catalog.Project{ID: "p1", Token: "tok1"}, catalog.Project{ID: "p2", Token: "tok2"})
	m := newMem()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := ratelimit.NewLocal(ratelimit.WithClock(func() time.Time { return clock }))
	h := New(Deps{Publisher: m, Decisions: m, Projects: projects, NotReady: func() []string { return nil }},
		WithRateLimit(lim, ratelimit.PerSecond(2))).Handler()
	post := func(token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/client/init", strings.NewReader(`{"token":"`+token+`","install_instance_id":"i1"}`))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := post("tok1"); w.Code != 202 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := post("tok1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `"code":"rate_limited"`) {
		t.Fatalf("over the limit: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if got := len(m.installs()["p1:i1"]); got != 2 {
		t.Fatalf("published %d, want 2", got)
	}
	// Another project's token is limited on its own.
	if w := post("tok2"); w.Code != 202 {
		t.Fatalf("other project: %d", w.Code)
	}
	clock = clock.Add(time.Second)
	if w := post("tok1"); w.Code != 202 {
		t.Fatalf("after a second: %d", w.Code)
	}
}
