package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// checkingPublisher keeps nothing; it fails the run when a record's value
// is not a JSON object or carries the token.
type checkingPublisher struct{ bad chan string }

func (p checkingPublisher) Publish(_ context.Context, rec stream.Record) (bool, error) {
	var v struct {
		Token *json.RawMessage           `json:"token"`
		Extra map[string]json.RawMessage `json:"extra"`
	}
	switch err := json.Unmarshal(rec.Value, &v); {
	case err != nil:
		p.report(fmt.Sprintf("%s/%s: value is not a JSON object: %v: %q", rec.Topic, rec.Key, err, rec.Value))
	case v.Token != nil || v.Extra["token"] != nil:
		p.report(fmt.Sprintf("%s/%s: the token was published: %s", rec.Topic, rec.Key, rec.Value))
	}
	return false, nil
}

func (p checkingPublisher) report(s string) {
	select {
	case p.bad <- s:
	default:
	}
}

// decidedInstall has a decision, so trigger and attribution-data answer one.
type fixedDecisions struct{}

func (fixedDecisions) Get(key string) (*codecs.Decision, error) {
	if key != cProject+":i1" {
		return nil, nil
	}
	return &codecs.Decision{ProjectID: cProject, InstallID: "i1", Source: "META", Deeplink: cSummerDL, InstalledAt: now,
		Campaign: &codecs.Campaign{ID: cSummer, Name: "Summer sale", Network: "META"}}, nil
}

// FuzzClientAPI posts one body to every client route: no route may panic,
// answer 5xx or answer anything but a JSON object, and what it publishes
// must be JSON without the token.
func FuzzClientAPI(f *testing.F) {
	names, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		f.Add(strings.ReplaceAll(string(b), "SDK_TOKEN", "tok1"))
	}
	if b, err := os.ReadFile(filepath.Join(fixtureDir, "signed-capture-event.body")); err == nil {
		f.Add(string(b))
	}
	for _, route := range clientRoutes {
		f.Add(minimal(route))
	}
	for _, s := range []string{
		`{"token":"tok1","install_instance_id":"i1","device_data":{"a":1}}`,
		`{"token":"tok1","install_instance_id":null,"device_data":null}`,
		`{"token":["x"]}`,
		`{"token":"tok1","amount":"NaN","time_since_app_install":"Inf","timestamp":1e300,"event_name":"e","deeplink_url":"x"}`,
		`{"token":"tok1","event_data":"{\"amount\":\"1e308\"}","event_name":"add_to_cart","url":"https://demo.example.link/c/summer?utm_source=\u0000"}`,
		`{"token":"tok1","user_data":"{\"id\":{}}","data":"{\"device_data\":\"{}\"}","payment_id":"a:b","type":"c:d","amount":0}`,
	} {
		f.Add(s)
	}
	bad := make(chan string, 1)
	cat := contractCatalog(f)
	s := New(Deps{Publisher: checkingPublisher{bad: bad}, Decisions: fixedDecisions{}, Projects: shortTokenProjects{cat},
		Catalog: cat, NotReady: func() []string { return nil }})
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, route := range clientRoutes {
			r := httptest.NewRequest(http.MethodPost, "/api/client/"+route, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Origin", "https://demo.example.link")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s answered %d to %q: %s", route, w.Code, body, w.Body.String())
			}
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out == nil {
				t.Fatalf("%s: body is not a JSON object: %q", route, w.Body.String())
			}
			select {
			case msg := <-bad:
				t.Fatalf("%s: %s (body %q)", route, msg, body)
			default:
			}
		}
	})
}
