package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Topics the client API publishes to (topics.yaml).
const (
	TopicInstalls    = string(attribution.Installs)
	TopicEvents      = "events"
	TopicPaymentKeys = "payment-keys"
	TopicClicks      = "clicks"
)

// initAccepted is the 202 answer of init (sdk-less doc).
type initAccepted struct {
	ProcessingID string `json:"processing_id"`
	Status       string `json:"status"`
	Message      string `json:"message"`
	Success      bool   `json:"success"`
}

func (s *Server) init(w http.ResponseWriter, c *call) {
	in := codecs.Install{RequestID: c.requestID, ProjectID: c.proj.ID, Platform: c.platform,
		ClientIP: c.clientIP, UserAgent: c.r.UserAgent(), ReceivedAt: c.received}
	var p *problem
	in.InstallID, in.MintedID, p = c.installID()
	for _, sf := range []struct {
		dst  *string
		name string
	}{{&in.PackageVersion, "package_version"}, {&in.AppVersion, "app_version"}, {&in.Source, "source"}, {&in.Link, "link"}} {
		if p == nil {
			*sf.dst, p = c.f.str(sf.name)
		}
	}
	if p == nil {
		in.Debug, p = c.f.boolean("debug")
	}
	if p == nil {
		in.DeviceData, p = deviceData(c.f, "device_data")
	}
	if p == nil {
		in.Extra = c.f.rest("platform", "install_instance_id", "package_version", "app_version", "source", "link", "debug", "device_data")
		p = s.publish(c, TopicInstalls, attribution.Key(c.proj.ID, in.InstallID), &in)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	writeJSON(w, http.StatusAccepted, initAccepted{ProcessingID: in.RequestID, Status: "accepted",
		Message: "Install event accepted for processing", Success: true})
}

// event starts the Event of a call with the fields every kind shares.
func (c *call) event(kind string) (codecs.Event, *problem) {
	ev := codecs.Event{RequestID: c.requestID, Kind: kind, ProjectID: c.proj.ID, Platform: c.platform,
		ClientIP: c.clientIP, UserAgent: c.r.UserAgent(), ReceivedAt: c.received}
	var p *problem
	ev.InstallID, ev.MintedID, p = c.installID()
	if p == nil {
		ev.DeviceData, p = deviceData(c.f, "device_data")
	}
	if p == nil {
		var t float64
		var ok bool
		if t, ok, p = c.f.number("time_since_app_install"); ok {
			ev.TimeSinceInstall = &t
		}
	}
	return ev, p
}

// commonKeys are read by call.event and never kept in Extra.
var commonKeys = []string{"platform", "install_instance_id", "device_data", "time_since_app_install"}

func (c *call) extra(typed ...string) json.RawMessage {
	return c.f.rest(append(typed, commonKeys...)...)
}

// emitEvent publishes an install-keyed event.
func (s *Server) emitEvent(c *call, ev *codecs.Event) *problem {
	return s.publish(c, TopicEvents, attribution.Key(ev.ProjectID, ev.InstallID), ev)
}

func (s *Server) trigger(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventSignup)
	ev.EventName = "SIGNUP"
	if p == nil {
		ev.UserData, p = c.f.object("user_data")
	}
	var data fields
	if p == nil {
		data, p = c.f.nested("data")
	}
	if p == nil && data != nil {
		// the SDK nests device_data inside data
		if ev.DeviceData == nil {
			ev.DeviceData, p = deviceData(data, "device_data")
		}
		if p == nil {
			ev.Data = data.restAll("device_data")
		}
	}
	if p == nil {
		ev.UserID, p = userID(c.f, ev.UserData)
	}
	if p == nil {
		ev.Extra = c.extra("user_data", "data")
		p = s.emitEvent(c, &ev)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	out := map[string]any{"deeplink": "", "trigger": true, "attribution_status": "pending"}
	if d, err := s.deps.Decisions.Get(attribution.Key(ev.ProjectID, ev.InstallID)); err == nil && d != nil {
		out["deeplink"], out["attribution_status"] = d.Deeplink, "attributed"
	}
	s.addSKAN(out, c, "SIGNUP", nil, ev.TimeSinceInstall)
	writeOK(w, http.StatusOK, "Trigger processed successfully", out)
}

func (s *Server) captureEvent(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventCustom)
	if p == nil {
		ev.EventName, p = c.f.required("event_name")
	}
	if p == nil {
		ev.EventID, p = c.f.str("event_id")
	}
	if p == nil {
		ev.UserID, p = c.f.str("user_id")
	}
	if p == nil {
		ev.Data, p = c.f.object("event_data")
	}
	if p == nil {
		ev.Extra = c.extra("event_name", "event_id", "user_id", "event_data")
		p = s.emitEvent(c, &ev)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	out := map[string]any{"message": "Event " + ev.EventName + " captured"}
	s.addSKAN(out, c, ev.EventName, amountOf(ev.Data), ev.TimeSinceInstall)
	writeOK(w, http.StatusOK, "Event capture request received!", out)
}

func (s *Server) capturePayment(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventPayment)
	pay := &codecs.Payment{Type: "DEFAULT", Status: "PAYMENT_COMPLETED"}
	ev.Payment = pay
	var data fields
	if p == nil {
		data, p = c.f.nested("data")
	}
	if p == nil && ev.DeviceData == nil && data != nil {
		ev.DeviceData, p = deviceData(data, "device_data")
	}
	if p == nil {
		ev.UserID, p = c.f.str("user_id")
	}
	if p == nil {
		var ok bool
		pay.Amount, ok, p = c.f.number("amount")
		switch {
		case p != nil:
		case !ok:
			p = badRequest("missing_field", "amount", "amount is required")
		case pay.Amount < 0:
			p = badRequest("invalid_field", "amount", "amount must not be negative")
		}
	}
	if p == nil {
		pay.PaymentID, p = c.f.str("payment_id")
		pay.PaymentID = strings.TrimSpace(pay.PaymentID)
	}
	for _, e := range []struct {
		dst  *string
		name string
	}{{&pay.Type, "type"}, {&pay.Status, "status"}} {
		if p == nil {
			var v string
			if v, p = c.f.str(e.name); strings.TrimSpace(v) != "" {
				*e.dst = strings.ToUpper(strings.TrimSpace(v))
			}
		}
	}
	if p == nil && !enumName(pay.Type) {
		// the type is part of the payment's key (project:TYPE:payment_id)
		p = badRequest("invalid_field", "type", "type must be a name such as FIRST_PAYMENT, not %q", pay.Type)
	}
	if p == nil {
		ev.Data, p = c.f.object("event_data")
	}
	if p == nil {
		ev.Extra = c.extra("user_id", "amount", "payment_id", "type", "status", "event_data", "data")
		if pay.PaymentID != "" {
			// the first payment with this type and id wins, whichever path
			// it came by
			p = s.publish(c, TopicPaymentKeys, ev.ProjectID+":"+pay.Type+":"+pay.PaymentID, &ev)
		} else {
			p = s.emitEvent(c, &ev)
		}
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	out := map[string]any{"message": "Payment captured"}
	s.addSKAN(out, c, "PAYMENT", &pay.Amount, ev.TimeSinceInstall)
	writeOK(w, http.StatusCreated, "Payment capture request received!", out)
}

func (s *Server) removePayment(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventPaymentRemoved)
	pay := &codecs.Payment{}
	ev.Payment = pay
	if p == nil {
		ev.UserID, p = c.f.str("user_id")
	}
	if p == nil {
		pay.PaymentID, p = c.f.str("payment_id")
		pay.PaymentID = strings.TrimSpace(pay.PaymentID)
	}
	if p == nil && pay.PaymentID == "" && strings.TrimSpace(ev.UserID) == "" {
		p = badRequest("missing_field", "payment_id", "payment_id or user_id is required")
	}
	if p == nil && ev.DeviceData == nil {
		var data fields
		if data, p = c.f.nested("data"); p == nil && data != nil {
			ev.DeviceData, p = deviceData(data, "device_data")
		}
	}
	if p == nil {
		ev.Extra = c.extra("user_id", "payment_id", "data")
		p = s.emitEvent(c, &ev)
	}
	s.answer(w, p, "Payment removal request received!", map[string]any{"message": "Payment removal accepted"})
}

func (s *Server) setUserData(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventUserData)
	if p == nil {
		ev.UserData, p = c.f.requiredObject("user_data")
	}
	if p == nil {
		ev.UserID, p = userID(c.f, ev.UserData)
	}
	s.emitAndAnswer(w, c, &ev, p, "User data set successfully", "user_data")
}

func (s *Server) updatePushToken(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventPushToken)
	if p == nil {
		ev.PushToken, p = c.f.required("push_token")
	}
	s.emitAndAnswer(w, c, &ev, p, "Push token updated", "push_token")
}

func (s *Server) integrations(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventIntegrations)
	if p == nil {
		ev.Integrations, p = c.f.requiredObject("integration_info")
	}
	s.emitAndAnswer(w, c, &ev, p, "Integration data saved", "integration_info")
}

func (s *Server) customerUserID(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventCustomerUserID)
	if p == nil {
		ev.UserID, p = c.f.required("user_id")
	}
	s.emitAndAnswer(w, c, &ev, p, "Customer user id set", "user_id")
}

func (s *Server) deeplinkTriggered(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventDeeplinkTriggered)
	s.emitAndAnswer(w, c, &ev, p, "Deeplink triggered")
}

// emitAndAnswer finishes a call whose answer carries no data: unless p
// already says what is wrong, ev is published with the body's keys other
// than typed kept in Extra, and the call is answered 200 with msg.
func (s *Server) emitAndAnswer(w http.ResponseWriter, c *call, ev *codecs.Event, p *problem, msg string, typed ...string) {
	if p == nil {
		ev.Extra = c.extra(typed...)
		p = s.emitEvent(c, ev)
	}
	s.answer(w, p, msg, map[string]any{})
}

func (s *Server) handleDeeplink(w http.ResponseWriter, c *call) {
	ev, p := c.event(codecs.EventDeeplink)
	if p == nil {
		ev.DeeplinkURL, p = c.f.required("deeplink_url")
	}
	if p == nil {
		var ms float64
		var ok bool
		if ms, ok, p = c.f.number("timestamp"); ok && ms > 0 && ms <= maxClientMillis {
			t := time.UnixMilli(int64(ms)).UTC()
			ev.ClientTime = &t
		}
	}
	if p == nil {
		var meta json.RawMessage
		if meta, p = c.f.object("meta_install_referrer"); p == nil && meta != nil && ev.DeviceData == nil {
			ev.DeviceData, _ = json.Marshal(map[string]json.RawMessage{"meta_install_ref": meta})
		}
	}
	if p == nil {
		ev.Extra = c.extra("deeplink_url", "timestamp", "meta_install_referrer")
		p = s.emitEvent(c, &ev)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	target, ours := s.resolveDeeplink(c, ev.DeeplinkURL)
	writeOK(w, http.StatusOK, "Deeplink handled", map[string]any{"deeplink": target, "is_linkrunner": ours, "processing": false})
}

// maxClientMillis is the last millisecond of year 9999: a client
// timestamp beyond it is ignored (it does not fit an int64 of
// milliseconds, nor a JSON time).
const maxClientMillis = 253402300799999

// enumName reports whether s is made of A–Z, 0–9 and _ only.
func enumName(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return s != ""
}

// answer writes p, or a 200 with msg and data.
func (s *Server) answer(w http.ResponseWriter, p *problem, msg string, data any) {
	if p != nil {
		writeProblem(w, p)
		return
	}
	writeOK(w, http.StatusOK, msg, data)
}

// userID is user_data.id, else the top-level user_id.
func userID(f fields, userData json.RawMessage) (string, *problem) {
	if userData != nil {
		var u fields
		if json.Unmarshal(userData, &u) == nil {
			if id, p := u.str("id"); p == nil && strings.TrimSpace(id) != "" {
				return id, nil
			}
		}
	}
	return f.str("user_id")
}

// amountOf is event_data.amount when it is a number (revenue sharing).
func amountOf(data json.RawMessage) *float64 {
	if data == nil {
		return nil
	}
	var d fields
	if json.Unmarshal(data, &d) != nil {
		return nil
	}
	if v, ok, p := d.number("amount"); ok && p == nil {
		return &v
	}
	return nil
}

// restAll is the object without the named keys (nil when empty).
func (f fields) restAll(drop ...string) json.RawMessage {
	out := make(fields, len(f))
	for k, v := range f {
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	b, _ := json.Marshal(out)
	return b
}

// deviceData reads an open device_data object (or a JSON string holding
// one) and drops empty or all-zero advertising ids.
func deviceData(f fields, name string) (json.RawMessage, *problem) {
	raw, p := f.object(name)
	if p != nil || raw == nil {
		return raw, p
	}
	ms, ok := members(raw)
	if !ok {
		return nil, badRequest("invalid_field", name, "field %s must be an object", name)
	}
	kept := ms[:0:0]
	for _, m := range ms {
		if !droppedID(m) {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(ms) {
		return raw, nil
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for i, m := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m.text...)
	}
	return append(out, '}'), nil
}

// droppedID reports a device_data member that is an advertising id with
// no value: empty, all zeros or null (and, for the ad ids, not a string).
func droppedID(m member) bool {
	if !advertisingID(string(m.key)) && (bytes.IndexByte(m.key, '\\') < 0 || !advertisingID(m.name())) {
		return false
	}
	key := m.name()
	id, p := fields{key: m.value}.str(key)
	if key == "device_id" || key == "android_id" {
		// only drop them when empty or zero, not when of another type
		return (kind(m.value) == "a string" || isNull(m.value)) && p == nil && zeroID(id)
	}
	return p != nil || zeroID(id)
}

// advertisingID reports a device_data key that names a device; an empty
// or all-zero value (limit ad tracking) is dropped so it never becomes a
// key.
func advertisingID(key string) bool {
	switch key {
	case "gaid", "idfa", "idfv", "appsetid", "android_id", "device_id":
		return true
	}
	return false
}

// zeroID reports an empty or all-zero identifier
// ("00000000-0000-0000-0000-000000000000").
func zeroID(id string) bool {
	id = strings.TrimSpace(id)
	return strings.Trim(id, "0-") == "" || strings.EqualFold(id, "unknown") || strings.EqualFold(id, "null")
}

// campaignData is attribution-data's campaign_data (contract §4).
type campaignData struct {
	ID                  string  `json:"id"`
	Name                string  `json:"name"`
	Type                string  `json:"type"`
	AdNetwork           *string `json:"ad_network"`
	GroupName           *string `json:"group_name"`
	AssetGroupName      *string `json:"asset_group_name"`
	AssetName           *string `json:"asset_name"`
	InstalledAt         string  `json:"installed_at"`
	StoreClickAt        *string `json:"store_click_at"`
	AdNetworkCampaignID *string `json:"ad_network_campaign_id"`
	AdSetID             *string `json:"ad_set_id"`
	AdSetName           *string `json:"ad_set_name"`
	AdCreativeID        *string `json:"ad_creative_id"`
	AdCreativeName      *string `json:"ad_creative_name"`
}

// campaign_data of attribution-data (contract §4): id, name and type are
// always strings; times are ISO-8601 without fractions.
type attributionData struct {
	Deeplink          *string       `json:"deeplink"`
	AttributionSource string        `json:"attribution_source"`
	CampaignData      *campaignData `json:"campaign_data"`
	// AttributionStatus is "attributed" once a decision exists, "pending"
	// before (the SDK may poll).
	AttributionStatus string `json:"attribution_status"`
	InstallID         string `json:"install_instance_id"`
	DecisionVersion   int    `json:"decision_version,omitempty"`
}

func (s *Server) attributionData(w http.ResponseWriter, c *call) {
	installID, p := c.f.str("install_instance_id")
	if p == nil && placeholderIDs[strings.TrimSpace(installID)] {
		p = badRequest("missing_field", "install_instance_id", "install_instance_id is required")
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	d, err := s.deps.Decisions.Get(attribution.Key(c.proj.ID, installID))
	if err != nil {
		if !errors.Is(err, stream.ErrNotReady) {
			s.log.Warn("decisions view read failed", zap.Error(err))
		}
		writeProblem(w, unavailable("attribution data is not available right now; retry later"))
		return
	}
	out := attributionData{AttributionSource: "UNKNOWN", AttributionStatus: "pending", InstallID: installID}
	if d != nil {
		out.AttributionStatus = "attributed"
		out.AttributionSource = d.Source
		out.DecisionVersion = d.Version
		if d.Deeplink != "" {
			out.Deeplink = &d.Deeplink
		}
		if cp := d.Campaign; cp != nil {
			out.CampaignData = &campaignData{ID: cp.ID, Name: cp.Name, Type: "INORGANIC",
				AdNetwork: optional(cp.Network), AdNetworkCampaignID: optional(cp.NetworkID),
				InstalledAt: d.InstalledAt.UTC().Format(time.RFC3339)}
			if !d.ClickedAt.IsZero() {
				out.CampaignData.StoreClickAt = optional(d.ClickedAt.UTC().Format(time.RFC3339))
			}
		}
	}
	writeOK(w, http.StatusOK, "Attribution data fetched", out)
}

// hostOf is the lower-case host of a URL or an Origin header value.
func hostOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}
