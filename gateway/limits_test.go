package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
)

// A project's client_rate_limit replaces the gateway's default for its
// requests; other projects keep the default.
func TestPerProjectRateLimit(t *testing.T) {
	c := &catalog.Catalog{Projects: []catalog.ProjectRecord{
		{ID: "tight", Name: "Tight", Secrets: catalog.Secrets{Token: "tight-token-0123456789", ServerKey: "tight-server-key-0123"},
			Settings: catalog.Settings{ClientRateLimit: catalog.Always(1)}},
		{ID: "plain", Name: "Plain", Secrets: catalog.Secrets{Token: "plain-token-0123456789", ServerKey: "plain-server-key-0123"}},
	}}
	if err := c.Build(); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := ratelimit.NewLocal(ratelimit.WithClock(func() time.Time { return clock }))
	m := newMem()
	h := New(Deps{Publisher: m, Decisions: m, Projects: c, Catalog: c, NotReady: func() []string { return nil }},
		WithRateLimit(lim, ratelimit.PerSecond(3)), WithClock(func() time.Time { return clock })).Handler()
	post := func(token string) int {
		r := httptest.NewRequest(http.MethodPost, "/api/client/capture-event",
			strings.NewReader(`{"token":"`+token+`","install_instance_id":"i1","event_name":"e"}`))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if got := []int{post("tight-token-0123456789"), post("tight-token-0123456789")}; got[0] != 200 || got[1] != 429 {
		t.Fatalf("project limited to 1/s: %v", got)
	}
	for i := range 3 {
		if code := post("plain-token-0123456789"); code != 200 {
			t.Fatalf("default 3/s, request %d: %d", i, code)
		}
	}
	if code := post("plain-token-0123456789"); code != 429 {
		t.Fatalf("default 3/s, 4th request: %d", code)
	}
}
