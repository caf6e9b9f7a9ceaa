package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/useragent"
	"github.com/hazelnut-mmp/hazelnut/gateway/webseal"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// The web collector (sdk-contract §1.2, §3, §6): the web SDK posts one
// flat JSON object per event to /web/ingest (old bundles and the Shopify
// pixel to /web/collect), cross-origin, with the project token in the
// body and no auth header. A body may come sealed for one of the
// project's web collector keys; the envelope names only the key id, so
// key ids are unique across projects and the key id finds the project
// (the token inside must be that project's).

// TopicUserLinks carries user ↔ install or visitor links (topics.yaml).
const TopicUserLinks = "user-links"

// webMaxBody is the web collector's body limit (sdk-contract §6).
const webMaxBody = 64 << 10

// webClickIDs are the click ids the web SDK reads from landing URLs (and
// sccid, which only the URL carries).
var webClickIDs = []string{"gclid", "gbraid", "wbraid", "fbclid", "ttclid", "msclkid", "twclid", "li_fat_id",
	"dclid", "irclickid", "sccid"}

// webUTMs are the last-touch UTM fields of the web payload.
var webUTMs = []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"}

// webEventKinds maps event_type to the Event kind.
var webEventKinds = map[string]string{
	"page_view": codecs.EventWebPageView,
	"custom":    codecs.EventWebCustom,
	"identify":  codecs.EventWebIdentify,
}

// webKeyLookup is implemented by project sources that hold web collector
// keys and can be unavailable (the catalog view).
type webKeyLookup interface {
	LookupWebKey(kid string) (catalog.Project, bool, error)
}

// webKeyIndex is implemented by in-memory project sources.
type webKeyIndex interface {
	ProjectByWebKey(kid string) (catalog.Project, bool)
}

// webCORS sets the CORS answer headers: any origin may post (the token in
// the body is what admits a request).
func webCORS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Add("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
}

// webPreflight answers a CORS preflight.
func (s *Server) webPreflight(w http.ResponseWriter, r *http.Request) {
	webCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "content-type")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// webIngest accepts one web SDK event.
func (s *Server) webIngest(w http.ResponseWriter, r *http.Request) {
	webCORS(w, r)
	c, p := s.webCall(w, r)
	if p == nil {
		p = s.webEvent(c)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// webCall reads, opens and admits a web collector request.
func (s *Server) webCall(w http.ResponseWriter, r *http.Request) (*call, *problem) {
	received := s.now().UTC()
	body, p := readWebBody(w, r)
	if p != nil {
		return nil, p
	}
	f, p := parseFields(body)
	if p != nil {
		return nil, p
	}
	var sealedFor *catalog.Project
	if _, sealed := f["lrv"]; sealed {
		var proj catalog.Project
		if f, proj, p = s.openWeb(body); p != nil {
			return nil, p
		}
		sealedFor = &proj
	}
	token, p := f.text("token")
	if p != nil {
		return nil, p
	}
	proj, p := s.project(token)
	if p != nil {
		return nil, p
	}
	if sealedFor != nil && sealedFor.ID != proj.ID {
		return nil, &problem{status: http.StatusUnauthorized, code: "invalid_token", field: "token",
			msg: "token is not the token of the project whose key sealed the body"}
	}
	if p := s.admit(r, proj, token, received); p != nil {
		return nil, p
	}
	return &call{r: r, f: f, proj: proj, requestID: requestID(r), received: received, clientIP: s.clientIP(r)}, nil
}

// readWebBody reads a JSON body sent as JSON or as text/plain (sendBeacon
// and simple CORS requests), at most webMaxBody bytes.
func readWebBody(w http.ResponseWriter, r *http.Request) ([]byte, *problem) {
	if ct := strings.ToLower(r.Header.Get("Content-Type")); ct != "" && !strings.Contains(ct, "json") && !strings.HasPrefix(ct, "text/plain") {
		return nil, &problem{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("content type %q is neither JSON nor text/plain", r.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &problem{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
				msg: fmt.Sprintf("body is larger than %d bytes", webMaxBody)}
		}
		return nil, badRequest("unreadable_body", "", "body could not be read: %v", err)
	}
	return body, nil
}

// openWeb opens a sealed body with the key its kid names and returns the
// cleartext fields and the key's project.
func (s *Server) openWeb(body []byte) (fields, catalog.Project, *problem) {
	env, err := webseal.Parse(body)
	if err != nil {
		return nil, catalog.Project{}, badRequest("invalid_envelope", "", "sealed body: %v", err)
	}
	proj, ok, err := s.projectByWebKey(env.KID)
	if err != nil {
		s.log.Warn("web key lookup failed", zap.Error(err))
		return nil, catalog.Project{}, unavailable("keys cannot be looked up right now; retry later")
	}
	if !ok {
		return nil, catalog.Project{}, badRequest("unknown_key", "kid", "sealed body: no web collector key %q", env.KID)
	}
	key, ok := proj.WebKey(env.KID)
	if !ok {
		for _, k := range proj.WebKeys {
			if k.KeyID == env.KID && k.Active {
				s.log.Error("web collector key cannot be opened (catalog key missing or wrong?)", zap.String("kid", env.KID))
				return nil, catalog.Project{}, unavailable(fmt.Sprintf("web collector key %q is not available on this gateway", env.KID))
			}
		}
		return nil, catalog.Project{}, badRequest("inactive_key", "kid", "sealed body: web collector key %q is not active", env.KID)
	}
	priv, err := webseal.ParsePrivateKey(key.PrivateKey)
	if err != nil {
		s.log.Error("web collector key is invalid", zap.String("kid", env.KID), zap.Error(err))
		return nil, catalog.Project{}, unavailable(fmt.Sprintf("web collector key %q is not usable", env.KID))
	}
	plain, err := webseal.Open(env, priv, key.KeyID)
	if err != nil {
		return nil, catalog.Project{}, badRequest("invalid_envelope", "", "sealed body: %v", err)
	}
	f, p := parseFields(plain)
	if p != nil {
		p.msg = "sealed body: " + p.msg
		return nil, catalog.Project{}, p
	}
	if _, again := f["lrv"]; again {
		return nil, catalog.Project{}, badRequest("invalid_envelope", "", "sealed body: it holds another envelope")
	}
	return f, proj, nil
}

func (s *Server) projectByWebKey(kid string) (catalog.Project, bool, error) {
	switch src := s.deps.Projects.(type) {
	case webKeyLookup:
		return src.LookupWebKey(kid)
	case webKeyIndex:
		p, ok := src.ProjectByWebKey(kid)
		return p, ok, nil
	}
	return catalog.Project{}, false, nil
}

// webEvent publishes what one web event means: a page view with click ids
// or UTMs is a click; every event goes to `events`; an identify with a
// user id links the user to the visitor.
func (s *Server) webEvent(c *call) *problem {
	f := c.f
	eventType, p := f.str("event_type")
	if p != nil {
		return p
	}
	eventType = strings.ToLower(strings.TrimSpace(eventType))
	kind, known := webEventKinds[eventType]
	switch {
	case eventType == "":
		return badRequest("missing_field", "event_type", "event_type is required (page_view, custom or identify)")
	case !known:
		return badRequest("invalid_field", "event_type", "event_type %q is not page_view, custom or identify", eventType)
	}
	strs := map[string]string{}
	for _, k := range []string{"visitor_id", "session_id", "event_id", "event_name", "user_id", "page_url",
		"document_referrer", "user_agent"} {
		if strs[k], p = f.str(k); p != nil {
			return p
		}
		strs[k] = strings.TrimSpace(strs[k])
	}
	visitor, minted := strs["visitor_id"], false
	if visitor == "" {
		visitor, minted = newID(), true
	}
	ua := strs["user_agent"]
	if ua == "" {
		ua = c.r.UserAgent()
	}
	// ANDROID or IOS from the browser; a desktop visitor names none.
	if c.platform = useragent.Parse(ua).Platform; c.platform == useragent.Desktop {
		c.platform = ""
	}

	// A page view the SDK itself flags as a bot's (is_bot 1) is kept as
	// an event but records no click: it must not win an install.
	bot, _ := f.boolean("is_bot")
	if eventType == "page_view" && !bot {
		if click, ok := webClick(c, strs, ua); ok {
			click.VisitorID = visitor
			if s.deps.Geo != nil && click.ClientIP != "" {
				click.Geo = s.deps.Geo.Lookup(click.ClientIP)
			}
			if p := s.writeClick(c, &click); p != nil {
				return p
			}
		}
	}

	ev := codecs.Event{RequestID: c.requestID, Kind: kind, ProjectID: c.proj.ID, InstallID: "web:" + visitor,
		MintedID: minted, Platform: c.platform, EventName: strs["event_name"], EventID: strs["event_id"],
		UserID: strs["user_id"], Data: webEventData(f["event_data"]),
		Extra:    f.rest("event_type", "event_name", "event_id", "event_data", "user_id", "user_agent"),
		ClientIP: c.clientIP, UserAgent: ua, ReceivedAt: c.received}
	if p := s.publish(c, TopicEvents, c.proj.ID+":web:"+visitor, &ev); p != nil {
		return p
	}
	if eventType == "identify" && strs["user_id"] != "" {
		link := codecs.UserLink{ProjectID: c.proj.ID, UserID: strs["user_id"], VisitorID: visitor, Source: "web",
			RequestID: c.requestID, ReceivedAt: c.received}
		if p := s.publish(c, TopicUserLinks, c.proj.ID+":"+link.UserID, &link); p != nil {
			return p
		}
	}
	return nil
}

// webClick is the click a page view records when it carries click ids or
// UTM parameters: the payload's fields, completed by the page URL's query
// (gad_campaignid, sccid, ...).
func webClick(c *call, strs map[string]string, ua string) (codecs.Click, bool) {
	params := map[string]string{}
	for _, k := range append(append([]string{"fbc", "fbp"}, webClickIDs...), webUTMs...) {
		if v, p := c.f.str(k); p == nil && strings.TrimSpace(v) != "" {
			params[k] = strings.TrimSpace(v)
		}
	}
	if u, err := url.Parse(strs["page_url"]); err == nil {
		q := u.Query()
		for _, k := range clickParams {
			if v := strings.TrimSpace(q.Get(k)); v != "" && params[k] == "" {
				params[k] = v
			}
		}
	}
	touched := false
	for _, k := range append(append([]string(nil), webClickIDs...), webUTMs...) {
		touched = touched || params[k] != ""
	}
	if !touched {
		return codecs.Click{}, false
	}
	return codecs.Click{ClickID: newID(), ProjectID: c.proj.ID, Source: "web", URL: strs["page_url"],
		Referrer: strs["document_referrer"], Platform: c.platform, ClientIP: c.clientIP, UserAgent: ua,
		SessionID: strs["session_id"], Params: params, RequestID: c.requestID, ReceivedAt: c.received}, true
}

// writeClick writes a click like click links do: into the click spool
// when there is one, else through the publisher.
func (s *Server) writeClick(c *call, click *codecs.Click) *problem {
	if s.deps.Clicks == nil {
		return s.publish(c, TopicClicks, click.ClickID, click)
	}
	value, err := json.Marshal(click)
	if err != nil {
		return &problem{status: http.StatusInternalServerError, code: "internal", msg: "the click could not be encoded"}
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), s.ackTimeout)
	defer cancel()
	rec := stream.Record{Topic: TopicClicks, Key: click.ClickID, Value: value, Headers: s.headers(c)}
	if err := s.deps.Clicks.Enqueue(ctx, rec); err != nil {
		s.log.Warn("click spool failed", zap.Error(err))
		return unavailable("the click could not be stored right now; retry later")
	}
	return nil
}

// webEventData is event_data as an object: the web SDK sends a JSON
// string ("" when none), the Shopify pixel an object. A string that holds
// JSON other than an object, or no JSON at all, and any other value are
// kept under "value" rather than refused (the SDK never resends a
// refused event).
func webEventData(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	wrap := func(v any) json.RawMessage {
		b, err := json.Marshal(map[string]any{"value": v})
		if err != nil {
			return nil
		}
		return b
	}
	switch kind(raw) {
	case "an object":
		return compact(raw)
	case "a string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil
		}
		t := strings.TrimSpace(s)
		if t == "" || t == "null" {
			return nil
		}
		if json.Valid([]byte(t)) {
			if kind(json.RawMessage(t)) == "an object" {
				return compact(json.RawMessage(t))
			}
			return wrap(json.RawMessage(compact(json.RawMessage(t))))
		}
		return wrap(s)
	}
	return wrap(json.RawMessage(bytes.TrimSpace(raw)))
}
