package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// placeholderIDs are install ids SDKs send when they failed to make one.
var placeholderIDs = map[string]bool{
	"":                                     true,
	"ERROR_GENERATING_INSTALL_INSTANCE_ID": true,
	"ERROR_GENERAING_INSTALL_INSTANCE_ID":  true,
}

// initRequest is the body of POST /api/client/init (contract §2.4).
type initRequest struct {
	Token          string          `json:"token"`
	PackageVersion string          `json:"package_version"`
	AppVersion     string          `json:"app_version"`
	DeviceData     json.RawMessage `json:"device_data"`
	Platform       string          `json:"platform"`
	Source         string          `json:"source"`
	InstallID      *string         `json:"install_instance_id"`
	Debug          bool            `json:"debug"`
	Link           string          `json:"link"`
}

// initAccepted is the 202 answer of init (sdk-less doc).
type initAccepted struct {
	ProcessingID string `json:"processing_id"`
	Status       string `json:"status"`
	Message      string `json:"message"`
	Success      bool   `json:"success"`
}

// tokenLookup is implemented by project sources that can be unavailable
// (the catalog view): an error answers 503, not 401.
type tokenLookup interface {
	LookupToken(token string) (catalog.Project, bool, error)
}

func (s *Server) project(token string) (catalog.Project, *problem) {
	if token == "" {
		return catalog.Project{}, badRequest("missing_field", "token", "token is required")
	}
	var p catalog.Project
	var ok bool
	if l, canFail := s.deps.Projects.(tokenLookup); canFail {
		var err error
		if p, ok, err = l.LookupToken(token); err != nil {
			s.log.Warn("token lookup failed", zap.Error(err))
			return catalog.Project{}, &problem{status: http.StatusServiceUnavailable, code: "unavailable",
				msg: "projects cannot be looked up right now; retry later"}
		}
	} else {
		p, ok = s.deps.Projects.ProjectByToken(token)
	}
	if !ok {
		return catalog.Project{}, &problem{status: http.StatusUnauthorized, code: "invalid_token", field: "token", msg: "token is not valid"}
	}
	return p, nil
}

// readClient decodes a client API body and resolves its token; on failure
// it has answered and returns false.
func (s *Server) readClient(w http.ResponseWriter, r *http.Request, req interface{ token() string }) (catalog.Project, bool) {
	if p := decodeBody(w, r, s.maxBody, req); p != nil {
		writeProblem(w, p)
		return catalog.Project{}, false
	}
	proj, p := s.project(req.token())
	if p == nil {
		p = s.admit(r, proj.ID, req.token())
	}
	if p != nil {
		writeProblem(w, p)
		return catalog.Project{}, false
	}
	return proj, true
}

// admit applies the rate limits of the project's token and of the client
// address; over either, the request is refused with 429 and Retry-After.
func (s *Server) admit(r *http.Request, projectID, token string) *problem {
	if s.limiter == nil {
		return nil
	}
	for _, k := range []string{ratelimit.Key(projectID, ratelimit.DimToken, token), ratelimit.Key(projectID, ratelimit.DimIP, s.clientIP(r))} {
		d, err := s.limiter.Allow(r.Context(), k, s.limit)
		if err != nil || d.Allowed {
			continue
		}
		secs := int(math.Ceil(d.RetryAfter.Seconds()))
		return &problem{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: max(secs, 1),
			msg: fmt.Sprintf("more than %d requests per %s; retry after %d s", s.limit.Rate, s.limit.Period, max(secs, 1))}
	}
	return nil
}

func (r *initRequest) token() string        { return r.Token }
func (r *attributionRequest) token() string { return r.Token }

func (s *Server) init(w http.ResponseWriter, r *http.Request) {
	received := s.now().UTC()
	var req initRequest
	proj, ok := s.readClient(w, r, &req)
	if !ok {
		return
	}
	if req.DeviceData != nil && !isObjectOrNull(req.DeviceData) {
		writeProblem(w, badRequest("invalid_field", "device_data", "field device_data must be an object"))
		return
	}
	in := codecs.Install{
		RequestID:      newID(),
		ProjectID:      proj.ID,
		Platform:       strings.ToUpper(req.Platform),
		PackageVersion: req.PackageVersion,
		AppVersion:     req.AppVersion,
		Source:         req.Source,
		Link:           req.Link,
		Debug:          req.Debug,
		DeviceData:     req.DeviceData,
		ClientIP:       s.clientIP(r),
		UserAgent:      r.UserAgent(),
		ReceivedAt:     received,
	}
	if req.InstallID == nil || placeholderIDs[strings.TrimSpace(*req.InstallID)] {
		in.InstallID, in.MintedID = newID(), true
	} else {
		in.InstallID = *req.InstallID
	}
	if p := s.publish(r.Context(), s.deps.Installs, attribution.Key(proj.ID, in.InstallID), &in); p != nil {
		writeProblem(w, p)
		return
	}
	writeJSON(w, http.StatusAccepted, initAccepted{ProcessingID: in.RequestID, Status: "accepted",
		Message: "Install event accepted for processing", Success: true})
}

// publish waits for the broker's acknowledgement, bounded by the ack timeout.
func (s *Server) publish(ctx context.Context, pub Publisher, key string, msg any) *problem {
	ctx, cancel := context.WithTimeout(ctx, s.ackTimeout)
	defer cancel()
	if err := pub.EmitSync(ctx, key, msg, nil); err != nil {
		s.log.Warn("publish failed", zap.String("key", key), zap.Error(err))
		return &problem{status: http.StatusServiceUnavailable, code: "unavailable",
			msg: "the event could not be stored right now; retry later"}
	}
	return nil
}

type attributionRequest struct {
	Token     string `json:"token"`
	Platform  string `json:"platform"`
	InstallID string `json:"install_instance_id"`
}

// campaignData is campaign_data of attribution-data (contract §4): id, name
// and type are always strings; times are ISO-8601 without fractions.
type campaignData struct {
	ID                  string  `json:"id"`
	Name                string  `json:"name"`
	Type                string  `json:"type"`
	AdNetwork           *string `json:"ad_network"`
	InstalledAt         string  `json:"installed_at"`
	AdNetworkCampaignID *string `json:"ad_network_campaign_id"`
}

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

func (s *Server) attributionData(w http.ResponseWriter, r *http.Request) {
	var req attributionRequest
	proj, ok := s.readClient(w, r, &req)
	if !ok {
		return
	}
	if placeholderIDs[strings.TrimSpace(req.InstallID)] {
		writeProblem(w, badRequest("missing_field", "install_instance_id", "install_instance_id is required"))
		return
	}
	d, err := s.deps.Decisions.Get(attribution.Key(proj.ID, req.InstallID))
	if err != nil {
		if !errors.Is(err, stream.ErrNotReady) {
			s.log.Warn("decisions view read failed", zap.Error(err))
		}
		writeProblem(w, &problem{status: http.StatusServiceUnavailable, code: "unavailable", msg: "attribution data is not available right now; retry later"})
		return
	}
	out := attributionData{AttributionSource: "UNKNOWN", AttributionStatus: "pending", InstallID: req.InstallID}
	if d != nil {
		out.AttributionStatus = "attributed"
		out.AttributionSource = d.Source
		out.DecisionVersion = d.Version
		if d.Deeplink != "" {
			out.Deeplink = &d.Deeplink
		}
		if c := d.Campaign; c != nil {
			out.CampaignData = &campaignData{ID: c.ID, Name: c.Name, Type: "INORGANIC",
				AdNetwork: optional(c.Network), AdNetworkCampaignID: optional(c.NetworkID),
				InstalledAt: d.InstalledAt.UTC().Format(time.RFC3339)}
		}
	}
	writeOK(w, http.StatusOK, "Attribution data fetched", out)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func isObjectOrNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return strings.HasPrefix(t, "{") || t == "null"
}
