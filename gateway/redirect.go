package gateway

import (
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/useragent"
)

// Click links (DESIGN §6):
//
//   - GET /c/{display_id} on any host;
//   - on a branded host (a host that is a domain of the catalog): GET / (the
//     domain's default campaign, or the one named by ?c=) and GET
//     /{display_id}.
//
// Branded hosts are routed by two ordinary routes, "/" and
// "/{display_id}": chi prefers the static API routes (/healthz, ...) to
// the parameter, and a request on a host that is no branded domain gets
// the API's JSON 404, as before. A click link records a click with a fresh
// click id (lr_ia_id) in the click spool (an fsync, never a wait for
// Kafka) and only then answers 302 to the store: Android to the Play
// listing with lr_ia_id in its referrer, iOS to the App Store, anything
// else to the campaign's desktop link. An unknown link is a small HTML 404
// page; a click that cannot be stored, an HTML 503.

// linkParams are the query parameters a click link keeps: the click ids,
// advertising ids and UTM parameters.
var linkParams = append([]string{"gaid", "idfa"}, clickParams...)

// redirectMetrics are the click links' own metrics.
type redirectMetrics struct {
	duration metric.Float64Histogram
	clicks   metric.Int64Counter
}

// initRedirects makes the click link metrics and the link cache.
func (s *Server) initRedirects() {
	if s.links == nil {
		s.links = newLinkCache(DefaultLinkTTL, DefaultLinkEntries)
	}
	s.redirects.duration, _ = s.meter.Float64Histogram("hazelnut.redirect.duration", metric.WithUnit("s"),
		metric.WithDescription("Click link redirect duration (resolution, click spool write, answer) by outcome"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
	s.redirects.clicks, _ = s.meter.Int64Counter("hazelnut.redirect.clicks",
		metric.WithDescription("Clicks recorded by click links, by platform"))
}

// clickLink serves GET /c/{display_id} on any host.
func (s *Server) clickLink(w http.ResponseWriter, r *http.Request) {
	s.redirect(w, r, chi.URLParam(r, "display_id"), false)
}

// brandedLink serves GET / and GET /{display_id}: a click link when the
// host is a branded domain, else the API's 404.
func (s *Server) brandedLink(w http.ResponseWriter, r *http.Request) {
	display := chi.URLParam(r, "display_id")
	if display == "" {
		display = r.URL.Query().Get("c")
	}
	s.redirect(w, r, display, true)
}

// redirect records the click of a link and answers the 302.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, display string, brandedOnly bool) {
	start := time.Now()
	outcome := "redirect"
	defer func() {
		s.redirects.duration.Record(r.Context(), time.Since(start).Seconds(), withAttrs("outcome", outcome))
	}()
	received := s.now().UTC()
	host := hostOnly(r.Host)
	if brandedOnly && !s.isBranded(host, received) {
		outcome = "not_branded"
		writeProblem(w, &problem{status: http.StatusNotFound, code: "not_found", msg: "no route for " + r.Method + " " + r.URL.Path})
		return
	}
	id, projectID, spec, found, err := s.resolveLink(host, display, received)
	if err != nil {
		s.log.Warn("click link resolution failed", zap.String("host", host), zap.String("display_id", display), zap.Error(err))
		outcome = "unavailable"
		writePage(w, http.StatusServiceUnavailable, "Link unavailable", "This link cannot be opened right now. Please try again in a moment.")
		return
	}
	if !found {
		outcome = "unknown"
		writePage(w, http.StatusNotFound, "Link not found", "This link does not exist or has expired.")
		return
	}
	c := &call{r: r, requestID: requestID(r), received: received, clientIP: s.clientIP(r)}
	click := s.newClick(c, "link", projectID, r.UserAgent(), absoluteURL(r), r.URL.Query())
	click.CampaignID = id
	click.Referrer = r.Referer()
	target := clickTarget(spec, click)
	if target == "" {
		outcome = "no_target"
		writePage(w, http.StatusNotFound, "Link not found", "This link has no destination for your device.")
		return
	}
	if p := s.writeClick(c, &click); p != nil {
		outcome = "unavailable"
		w.Header().Set("Retry-After", "1")
		writePage(w, http.StatusServiceUnavailable, "Link unavailable", "This link cannot be opened right now. Please try again in a moment.")
		return
	}
	s.redirects.clicks.Add(r.Context(), 1, withAttrs("platform", click.Platform))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer-when-downgrade")
	http.Redirect(w, r, target, http.StatusFound)
}

// isBranded reports whether host is a domain of the catalog at t.
func (s *Server) isBranded(host string, t time.Time) bool {
	if s.deps.Catalog == nil || host == "" {
		return false
	}
	_, ok, err := s.deps.Catalog.DomainAt(host, t)
	return ok && err == nil
}

// newClick is a click recorded from a browser request: ids, time, client
// address and its place, the user agent read into OS, device and browser
// (whose platform class is the click's platform), and the click ids,
// advertising ids and UTM parameters of q.
func (s *Server) newClick(c *call, source, projectID, ua, rawURL string, q url.Values) codecs.Click {
	a := useragent.Parse(ua)
	click := codecs.Click{ClickID: newID(), ProjectID: projectID, Source: source, URL: rawURL,
		Platform: a.Platform, ClientIP: c.clientIP, UserAgent: ua,
		OS: a.OS, OSVersion: a.OSVersion, Device: a.Device, Browser: a.Browser, BrowserVersion: a.BrowserVersion,
		RequestID: c.requestID, ReceivedAt: c.received}
	if s.deps.Geo != nil && click.ClientIP != "" {
		click.Geo = s.deps.Geo.Lookup(click.ClientIP)
	}
	for _, k := range linkParams {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			if click.Params == nil {
				click.Params = map[string]string{}
			}
			click.Params[k] = v
		}
	}
	return click
}

// clickTarget is where a click goes: the store listing of its platform
// (the Play listing carrying lr_ia_id in its referrer), else the desktop
// link; "" when the campaign has neither.
func clickTarget(spec catalog.CampaignSpec, click codecs.Click) string {
	switch click.Platform {
	case useragent.Android, useragent.IOS:
		return storeLink(spec, catalog.Platform(click.Platform), click)
	}
	return spec.DesktopURL
}

// hostOnly is the lower-case host of a Host header, without the port.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// absoluteURL is the URL the visitor opened.
func absoluteURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") != "https" {
		scheme = "http"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// writePage answers a small HTML page.
func writePage(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	t := html.EscapeString(title)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>` + t + `</title></head>` +
		`<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">` +
		`<h1>` + t + `</h1><p>` + html.EscapeString(text) + `</p></body></html>`))
}
