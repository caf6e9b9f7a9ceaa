package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminEndpoints(t *testing.T) {
	m, err := NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.Meter("test").Int64Counter("hazelnut.test.events")
	c.Add(context.Background(), 3)
	notReady := []string{"group-attribution"}
	srv := httptest.NewServer(m.Handler(func() []string { return notReady }))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "group-attribution") {
		t.Errorf("readyz while not ready: %d %s", code, body)
	}
	notReady = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `hazelnut_test_events_total{otel_scope_name="test",otel_scope_schema_url="",otel_scope_version=""} 3`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.200s", code, body)
	}
	if code, body := get("/debug/pprof/profile?seconds=1"); code != 200 || len(body) == 0 {
		t.Errorf("CPU profile: %d, %d bytes", code, len(body))
	}
}
