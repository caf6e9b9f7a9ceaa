package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

const (
	uaPixel   = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	uaIPad    = "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
	uaIPadMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	uaWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

	playURL    = "https://play.google.com/store/apps/details?id=com.demo.app"
	appStore   = "https://apps.apple.com/app/id1234567890"
	desktopURL = "https://demo.example/summer"
)

// fakeSpool is an Enqueuer that keeps what it holds in memory.
type fakeSpool struct {
	mu   sync.Mutex
	recs []stream.Record
	err  error
}

func (f *fakeSpool) Enqueue(_ context.Context, rec stream.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.recs = append(f.recs, rec)
	return nil
}

func (f *fakeSpool) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recs)
}

func (f *fakeSpool) clicks(t *testing.T) []codecs.Click {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []codecs.Click
	for _, r := range f.recs {
		if r.Topic != TopicClicks {
			t.Fatalf("spooled a record on %s", r.Topic)
		}
		var c codecs.Click
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatal(err)
		}
		if r.Key != c.ClickID {
			t.Fatalf("record key %q is not the click id %q", r.Key, c.ClickID)
		}
		out = append(out, c)
	}
	return out
}

type linkGeo struct{}

func (linkGeo) Lookup(ip string) codecs.Geo {
	if ip == "203.0.113.7" {
		return codecs.Geo{Country: "DE", City: "Berlin"}
	}
	return codecs.Geo{}
}

// linkCatalog: project demo with campaigns summer (display summer25, all
// platforms, ends at `ends`), news (iOS listing missing) and other's
// campaign in another project; go.demo.example serves news by default.
func linkCatalog(t testing.TB, ends time.Time) *catalog.Catalog {
	t.Helper()
	summer, err := catalog.NewHistory(catalog.Span[catalog.CampaignSpec]{Until: ends, Value: catalog.CampaignSpec{
		Name: "Summer", DisplayID: "summer25", Deeplink: "demoapp://summer",
		StoreURLs:  map[catalog.Platform]string{catalog.Android: playURL, catalog.IOS: appStore},
		DesktopURL: desktopURL}})
	if err != nil {
		t.Fatal(err)
	}
	c := &catalog.Catalog{
		Projects: []catalog.ProjectRecord{
			{ID: "demo", Name: "Demo", Secrets: catalog.Secrets{Token: "tok-demo-0123456789", ServerKey: "key-demo-0123456789"}},
			{ID: "other", Name: "Other", Secrets: catalog.Secrets{Token: "tok-other-0123456789", ServerKey: "key-other-0123456789"}},
		},
		Campaigns: []catalog.Campaign{
			{ID: "summer", ProjectID: "demo", Spec: summer},
			{ID: "news", ProjectID: "demo", Spec: catalog.Always(catalog.CampaignSpec{Name: "News", DisplayID: "news",
				StoreURLs: map[catalog.Platform]string{catalog.Android: playURL}, DesktopURL: "https://demo.example/"})},
			{ID: "theirs", ProjectID: "other", Spec: catalog.Always(catalog.CampaignSpec{Name: "Theirs", DisplayID: "theirs",
				StoreURLs: map[catalog.Platform]string{catalog.Android: playURL}, DesktopURL: "https://other.example/"})},
			{ID: "nowhere", ProjectID: "demo", Spec: catalog.Always(catalog.CampaignSpec{Name: "Nowhere", DisplayID: "nowhere"})},
		},
		Domains: []catalog.Domain{
			{Host: "go.demo.example", Spec: catalog.Always(catalog.DomainSpec{ProjectID: "demo", DefaultCampaign: "news"})},
			{Host: "bare.demo.example", Spec: catalog.Always(catalog.DomainSpec{ProjectID: "demo"})},
		},
	}
	if err := c.Build(); err != nil {
		t.Fatal(err)
	}
	return c
}

// datedCatalog resolves display ids at a time, also of campaigns whose
// spec has a scheduled end (the memory catalog indexes open specs only).
type datedCatalog struct{ *catalog.Catalog }

func (c datedCatalog) CampaignByDisplayIDAt(d string, t time.Time) (string, string, catalog.CampaignSpec, bool, error) {
	for _, cp := range c.Campaigns {
		if spec, ok := cp.Spec.At(t); ok && spec.DisplayID == d {
			return cp.ID, cp.ProjectID, spec, true, nil
		}
	}
	return "", "", catalog.CampaignSpec{}, false, nil
}

type linkEnv struct {
	h     http.Handler
	spool *fakeSpool
	pub   *memTopic
	clock *time.Time
}

func newLinkEnv(t testing.TB, ends time.Time, opts ...Option) *linkEnv {
	t.Helper()
	cat := datedCatalog{linkCatalog(t, ends)}
	e := &linkEnv{spool: &fakeSpool{}, pub: newMem(), clock: new(time.Time)}
	*e.clock = now
	opts = append([]Option{WithClock(func() time.Time { return *e.clock })}, opts...)
	s := New(Deps{Publisher: e.pub, Decisions: e.pub, Projects: cat, Catalog: cat, Clicks: e.spool, Geo: linkGeo{},
		NotReady: func() []string { return nil }}, opts...)
	e.h = s.Handler()
	return e
}

func (e *linkEnv) get(host, target, ua string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = host
	r.RemoteAddr = "203.0.113.7:4242"
	if ua != "" {
		r.Header.Set("User-Agent", ua)
	}
	r.Header.Set("Referer", "https://news.example/article")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func TestRedirectPerPlatform(t *testing.T) {
	far := now.Add(365 * 24 * time.Hour)
	for _, tc := range []struct {
		name, host, target, ua string
		campaign, platform     string
		location               string // prefix; Android's is checked below
	}{
		{"android /c", "links.hazelnut.example", "/c/summer25", uaPixel, "summer", "ANDROID", "https://play.google.com/store/apps/details?"},
		{"iphone /c", "links.hazelnut.example", "/c/summer25", uaIPhone, "summer", "IOS", appStore},
		{"ipad /c", "links.hazelnut.example", "/c/summer25", uaIPad, "summer", "IOS", appStore},
		{"ipad desktop mode is desktop", "links.hazelnut.example", "/c/summer25", uaIPadMac, "summer", "DESKTOP", desktopURL},
		{"windows /c", "links.hazelnut.example", "/c/summer25", uaWindows, "summer", "DESKTOP", desktopURL},
		{"no user agent", "links.hazelnut.example", "/c/summer25", "", "summer", "DESKTOP", desktopURL},
		{"branded root: default campaign", "go.demo.example", "/", uaWindows, "news", "DESKTOP", "https://demo.example/"},
		{"branded root ?c=", "go.demo.example", "/?c=summer25", uaIPhone, "summer", "IOS", appStore},
		{"branded path", "go.demo.example", "/summer25", uaIPhone, "summer", "IOS", appStore},
		{"branded host with port", "go.demo.example:8080", "/summer25", uaIPhone, "summer", "IOS", appStore},
		{"branded /c", "GO.demo.example", "/c/summer25", uaWindows, "summer", "DESKTOP", desktopURL},
		{"iOS without listing goes to desktop", "go.demo.example", "/news", uaIPhone, "news", "IOS", "https://demo.example/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLinkEnv(t, far)
			w := e.get(tc.host, tc.target, tc.ua)
			if w.Code != http.StatusFound {
				t.Fatalf("status %d, body %s", w.Code, w.Body)
			}
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, tc.location) {
				t.Fatalf("Location %q, want %q…", loc, tc.location)
			}
			clicks := e.spool.clicks(t)
			if len(clicks) != 1 {
				t.Fatalf("%d clicks spooled, want 1", len(clicks))
			}
			c := clicks[0]
			if c.CampaignID != tc.campaign || c.ProjectID != "demo" || c.Platform != tc.platform || c.Source != "link" {
				t.Fatalf("click %+v", c)
			}
			if tc.platform == "ANDROID" {
				u, _ := url.Parse(loc)
				ref, _ := url.ParseQuery(u.Query().Get("referrer"))
				if u.Query().Get("id") != "com.demo.app" || ref.Get("lr_ia_id") != c.ClickID {
					t.Fatalf("Location %q does not carry lr_ia_id=%s in its referrer", loc, c.ClickID)
				}
			}
			if len(e.pub.all()) != 0 {
				t.Fatal("a click link published directly instead of through the click spool")
			}
		})
	}
}

func TestRedirectClickRecord(t *testing.T) {
	e := newLinkEnv(t, now.Add(time.Hour))
	q := "gaid=38400000-8cf0-11bd-b23e-10b96e40000d&idfa=&gclid=G1&gbraid=GB&wbraid=WB&fbclid=F1&ttclid=T1&sccid=S1" +
		"&gad_campaignid=123&utm_source=google&utm_medium=cpc&utm_campaign=summer&utm_term=shoes&utm_content=ad1&other=x"
	r := httptest.NewRequest(http.MethodGet, "/c/summer25?"+q, nil)
	r.Host = "go.demo.example"
	r.RemoteAddr = "203.0.113.7:4242"
	r.Header.Set("User-Agent", uaPixel)
	r.Header.Set("Referer", "https://news.example/article")
	r.Header.Set(HeaderRequestID, "req-1")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusFound {
		t.Fatalf("status %d", w.Code)
	}
	clicks := e.spool.clicks(t)
	if len(clicks) != 1 {
		t.Fatalf("%d clicks", len(clicks))
	}
	c := clicks[0]
	want := codecs.Click{ClickID: c.ClickID, ProjectID: "demo", CampaignID: "summer", Source: "link",
		URL: "http://go.demo.example/c/summer25?" + q, Referrer: "https://news.example/article", Platform: "ANDROID",
		ClientIP: "203.0.113.7", UserAgent: uaPixel, OS: "Android", OSVersion: "14", Device: "Pixel 8",
		Browser: "Chrome", BrowserVersion: "124.0.6367.82", Geo: codecs.Geo{Country: "DE", City: "Berlin"},
		Params: map[string]string{"gaid": "38400000-8cf0-11bd-b23e-10b96e40000d", "gclid": "G1", "gbraid": "GB",
			"wbraid": "WB", "fbclid": "F1", "ttclid": "T1", "sccid": "S1", "gad_campaignid": "123",
			"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "summer", "utm_term": "shoes", "utm_content": "ad1"},
		RequestID: "req-1", ReceivedAt: now}
	gotJSON, _ := json.Marshal(c)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("click\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if len(c.ClickID) != 36 {
		t.Fatalf("click id %q is not a UUID", c.ClickID)
	}
	u, _ := url.Parse(w.Header().Get("Location"))
	ref, _ := url.ParseQuery(u.Query().Get("referrer"))
	if ref.Get("lr_ia_id") != c.ClickID || ref.Get("utm_source") != "google" || ref.Get("utm_medium") != "cpc" || ref.Get("utm_campaign") != "summer" {
		t.Fatalf("Play referrer %q", u.Query().Get("referrer"))
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", w.Header().Get("Cache-Control"))
	}
}

func TestRedirectUnknown(t *testing.T) {
	e := newLinkEnv(t, now.Add(time.Hour))
	for _, tc := range []struct {
		name, host, target string
		status             int
		html               bool
	}{
		{"unknown display id", "links.hazelnut.example", "/c/nope", 404, true},
		{"unknown display id on a branded host", "go.demo.example", "/nope", 404, true},
		{"unknown ?c= on a branded host", "go.demo.example", "/?c=nope", 404, true},
		{"another project's campaign on a branded host", "go.demo.example", "/theirs", 404, true},
		{"another project's campaign under /c on a branded host", "go.demo.example", "/c/theirs", 404, true},
		{"branded host without a default campaign", "bare.demo.example", "/", 404, true},
		{"campaign without any destination", "go.demo.example", "/nowhere", 404, true},
		{"unknown host root", "api.hazelnut.example", "/", 404, false},
		{"unknown host path", "api.hazelnut.example", "/summer25", 404, false},
		{"unknown host deep path", "go.demo.example", "/a/b", 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get(tc.host, tc.target, uaPixel)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			ct := w.Header().Get("Content-Type")
			if tc.html != strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type %q (html %v)", ct, tc.html)
			}
			if tc.html && !strings.Contains(w.Body.String(), "<html") {
				t.Fatalf("body %q", w.Body)
			}
			if !tc.html {
				var env map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
					t.Fatalf("not the JSON 404: %q", w.Body)
				}
			}
		})
	}
	if n := e.spool.len(); n != 0 {
		t.Fatalf("%d clicks recorded for unknown links", n)
	}
	// the API is untouched on a branded host
	w := e.get("go.demo.example", "/healthz", "")
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "json") {
		t.Fatalf("/healthz on a branded host: %d %s", w.Code, w.Body)
	}
}

func TestRedirectSpoolFailure(t *testing.T) {
	e := newLinkEnv(t, now.Add(time.Hour))
	e.spool.err = errors.New("disk full")
	w := e.get("links.hazelnut.example", "/c/summer25", uaPixel)
	if w.Code != http.StatusServiceUnavailable || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w.Header().Get("Location") != "" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("headers %v", w.Header())
	}
}

// spoolCheck fails the test when a 302 is written before the click is in
// the spool.
type spoolCheck struct {
	http.ResponseWriter
	t     *testing.T
	spool *fakeSpool
}

func (s spoolCheck) WriteHeader(code int) {
	if code == http.StatusFound && s.spool.len() != 1 {
		s.t.Errorf("302 written with %d clicks in the spool", s.spool.len())
	}
	s.ResponseWriter.WriteHeader(code)
}

func TestRedirectSpooledBeforeAnswer(t *testing.T) {
	e := newLinkEnv(t, now.Add(time.Hour))
	r := httptest.NewRequest(http.MethodGet, "/c/summer25", nil)
	r.Header.Set("User-Agent", uaIPhone)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(spoolCheck{ResponseWriter: rec, t: t, spool: e.spool}, r)
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d", rec.Code)
	}
}

// Without a click spool, clicks go through the publisher.
func TestRedirectWithoutSpoolPublishes(t *testing.T) {
	cat := datedCatalog{linkCatalog(t, now.Add(time.Hour))}
	m := newMem()
	s := New(Deps{Publisher: m, Decisions: m, Projects: cat, Catalog: cat, NotReady: func() []string { return nil }},
		WithClock(func() time.Time { return now }))
	r := httptest.NewRequest(http.MethodGet, "/c/summer25", nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusFound || len(m.all()) != 1 || m.all()[0].Topic != TopicClicks {
		t.Fatalf("status %d, published %+v", w.Code, m.all())
	}
}

// A cached link stops resolving at its campaign's end, however fresh the
// cache entry; an unknown link is cached too.
func TestRedirectCacheHonoursSpecEnd(t *testing.T) {
	ends := now.Add(10 * time.Second)
	e := newLinkEnv(t, ends)
	if w := e.get("links.hazelnut.example", "/c/summer25", uaPixel); w.Code != http.StatusFound {
		t.Fatalf("before the end: %d", w.Code)
	}
	*e.clock = ends.Add(time.Second) // well inside the cache's TTL
	if w := e.get("links.hazelnut.example", "/c/summer25", uaPixel); w.Code != http.StatusNotFound {
		t.Fatalf("after the end: %d", w.Code)
	}
}

type countingCatalog struct {
	datedCatalog
	mu      sync.Mutex
	display int
}

func (c *countingCatalog) CampaignByDisplayIDAt(d string, t time.Time) (string, string, catalog.CampaignSpec, bool, error) {
	c.mu.Lock()
	c.display++
	c.mu.Unlock()
	return c.datedCatalog.CampaignByDisplayIDAt(d, t)
}

func TestLinkCacheReusesAndExpires(t *testing.T) {
	cat := &countingCatalog{datedCatalog: datedCatalog{linkCatalog(t, now.Add(time.Hour))}}
	clock := now
	s := New(Deps{Publisher: newMem(), Projects: cat, Catalog: cat, Clicks: &fakeSpool{}},
		WithClock(func() time.Time { return clock }), WithLinkCache(30*time.Second, 10))
	h := s.Handler()
	get := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	for range 5 {
		if get("/c/summer25") != 302 || get("/c/unknown") != 404 {
			t.Fatal("unexpected answer")
		}
	}
	if cat.display != 2 {
		t.Fatalf("%d catalog lookups for 10 clicks on 2 links, want 2", cat.display)
	}
	clock = clock.Add(31 * time.Second)
	get("/c/summer25")
	if cat.display != 3 {
		t.Fatalf("%d catalog lookups after the TTL, want 3", cat.display)
	}
}

// capture-page-view records its click like click links do: through the
// click spool, with the user agent read and the place of the address.
func TestPageViewClickFields(t *testing.T) {
	e := newLinkEnv(t, now.Add(time.Hour))
	body := `{"token":"tok-demo-0123456789","url":"https://go.demo.example/summer25?gclid=G1"}`
	r := httptest.NewRequest(http.MethodPost, "/api/client/capture-page-view", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", uaPixel)
	r.RemoteAddr = "203.0.113.7:1"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	clicks := e.spool.clicks(t)
	if len(clicks) != 1 {
		t.Fatalf("%d clicks", len(clicks))
	}
	c := clicks[0]
	if c.Source != "page_view" || c.CampaignID != "summer" || c.Device != "Pixel 8" || c.Browser != "Chrome" ||
		c.Geo.Country != "DE" || c.Platform != "ANDROID" || c.Params["gclid"] != "G1" {
		t.Fatalf("click %+v", c)
	}
}

// Concurrent clicks on a link that is not cached look it up once.
func TestLinkCacheJoinsConcurrentMisses(t *testing.T) {
	cat := &countingCatalog{datedCatalog: datedCatalog{linkCatalog(t, now.Add(time.Hour))}}
	s := New(Deps{Publisher: newMem(), Projects: cat, Catalog: cat, Clicks: &fakeSpool{}},
		WithClock(func() time.Time { return now }))
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, _, ok, err := s.resolveLink("links.hazelnut.example", "summer25", now); !ok || err != nil {
				t.Errorf("unresolved: %v", err)
			}
		}()
	}
	wg.Wait()
	if cat.display != 1 {
		t.Fatalf("%d catalog lookups for 64 concurrent clicks", cat.display)
	}
}
