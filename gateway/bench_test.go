package gateway

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkInitHandler measures the gateway's own work per init (decode,
// token lookup, stamping, routing) with an in-memory publisher.
func BenchmarkInitHandler(b *testing.B) {
	benchInit(b, `{"token":"tok1","platform":"ANDROID","install_instance_id":"4b0f1c2e-6a7d-4e8f-9a0b-1c2d3e4f5a6b","source":"GENERAL","device_data":{"device_name":"Pixel 8","gaid":"38400000-8cf0-11bd-b23e-10b96e40000d","install_ref":"utm_source=google-play&utm_medium=organic"}}`)
}

// BenchmarkInitHandlerAndroid is the same with the Android SDK's full body.
func BenchmarkInitHandlerAndroid(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sdk", "android-sdkless-init.json"))
	if err != nil {
		b.Fatal(err)
	}
	benchInit(b, strings.Replace(string(raw), `"SDK_TOKEN"`, `"tok1"`, 1))
}

func benchInit(b *testing.B, body string) {
	_, h := newTestServer(b)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/client/init", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
