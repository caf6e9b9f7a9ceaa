package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// Catalog is what the gateway reads about projects beyond their tokens:
// settings, campaigns and branded domains, each as of a time. Both the
// catalog view and the in-memory catalog implement it.
type Catalog interface {
	ProjectSettingsAt(projectID string, t time.Time) (catalog.Effective, bool, error)
	CampaignAt(id string, t time.Time) (projectID string, spec catalog.CampaignSpec, ok bool, err error)
	DomainAt(host string, t time.Time) (catalog.DomainSpec, bool, error)
}

// displayIDs is implemented by catalogs that resolve a click link's
// display id.
type displayIDs interface {
	CampaignByDisplayIDAt(displayID string, t time.Time) (id, projectID string, spec catalog.CampaignSpec, ok bool, err error)
}

// linkCampaign resolves a link of the project: its host must be one of
// the project's domains; the campaign is the one named by the `c` query
// parameter or the path (/c/{display_id} or /{display_id}), else the
// domain's default campaign. ours reports whether the host is the project's.
func (s *Server) linkCampaign(projectID string, u *url.URL, at time.Time) (id string, spec catalog.CampaignSpec, ours, found bool) {
	if s.deps.Catalog == nil || u == nil {
		return "", spec, false, false
	}
	dom, ok, err := s.deps.Catalog.DomainAt(strings.ToLower(u.Hostname()), at)
	if err != nil {
		s.log.Warn("domain lookup failed", zap.Error(err))
		return "", spec, false, false
	}
	if !ok || dom.ProjectID != projectID {
		return "", spec, false, false
	}
	display := u.Query().Get("c")
	if display == "" {
		display = displayIDOfPath(u.Path)
	}
	if d, can := s.deps.Catalog.(displayIDs); can && display != "" {
		if cid, pid, sp, ok, err := d.CampaignByDisplayIDAt(display, at); err == nil && ok && pid == projectID {
			return cid, sp, true, true
		}
	}
	if dom.DefaultCampaign != "" {
		if pid, sp, ok, err := s.deps.Catalog.CampaignAt(dom.DefaultCampaign, at); err == nil && ok && pid == projectID {
			return dom.DefaultCampaign, sp, true, true
		}
	}
	return "", spec, true, false
}

// displayIDOfPath is the display id of a click link's path:
// /c/{display_id} (docs/catalog.md) or, for short links, /{display_id}.
func displayIDOfPath(path string) string {
	first, rest, _ := strings.Cut(strings.Trim(path, "/"), "/")
	if first == "c" && rest != "" {
		first, _, _ = strings.Cut(rest, "/")
	}
	return first
}

// resolveDeeplink is handle-deeplink's answer: the campaign's deep link
// for a link of the project's domains, else the URL itself.
func (s *Server) resolveDeeplink(c *call, raw string) (target string, ours bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw, false
	}
	_, spec, ours, found := s.linkCampaign(c.proj.ID, u, c.received)
	if found && spec.Deeplink != "" {
		return spec.Deeplink, true
	}
	return raw, ours
}

// clickParams are the query parameters a click keeps.
var clickParams = []string{"gclid", "gbraid", "wbraid", "fbclid", "ttclid", "sccid", "gad_campaignid", "msclkid",
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"}

// capturePageView records a web page view on one of the project's domains
// as a click and answers the store link (with the click id in the Play
// referrer) the page should send the visitor to.
func (s *Server) capturePageView(w http.ResponseWriter, c *call) {
	pageURL, p := c.f.str("url")
	if p == nil && strings.TrimSpace(pageURL) == "" {
		p = badRequest("missing_field", "url", "url is required")
	}
	var u *url.URL
	if p == nil {
		var err error
		if u, err = url.Parse(strings.TrimSpace(pageURL)); err != nil || u.Host == "" {
			p = badRequest("invalid_field", "url", "url must be an absolute URL")
		}
	}
	var referrer string
	if p == nil {
		referrer, p = c.f.str("referrer")
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	campaignID, spec, ours, found := s.linkCampaign(c.proj.ID, u, c.received)
	if o := c.r.Header.Get("Origin"); ours && o != "" {
		_, ours, _ = s.domainOf(c.proj.ID, hostOf(o), c.received)
	}
	if !ours {
		writeProblem(w, &problem{status: http.StatusForbidden, code: "origin_not_allowed", field: "url",
			msg: "page views are accepted only from the project's domains"})
		return
	}
	click := s.newClick(c, "page_view", c.proj.ID, c.r.UserAgent(), pageURL, u.Query())
	click.Referrer = referrer
	if c.platform != "" {
		click.Platform = c.platform
	}
	if found {
		click.CampaignID = campaignID
	}
	if p := s.writeClick(c, &click); p != nil {
		writeProblem(w, p)
		return
	}
	var link *string
	if found {
		link = optional(storeLink(spec, catalog.Platform(click.Platform), click))
	}
	writeOK(w, http.StatusCreated, "Page view captured", map[string]any{"store_link": link, "click_id": click.ClickID})
}

func (s *Server) domainOf(projectID, host string, at time.Time) (catalog.DomainSpec, bool, error) {
	if s.deps.Catalog == nil || host == "" {
		return catalog.DomainSpec{}, false, nil
	}
	d, ok, err := s.deps.Catalog.DomainAt(host, at)
	return d, ok && d.ProjectID == projectID, err
}

// storeLink is the campaign's store listing for platform; on Android the
// click id (and the click's UTM parameters) travel in the Play referrer.
func storeLink(spec catalog.CampaignSpec, platform catalog.Platform, click codecs.Click) string {
	link := spec.StoreURLs[platform]
	if link == "" {
		return spec.DesktopURL
	}
	if platform != catalog.Android {
		return link
	}
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	ref := url.Values{"lr_ia_id": {click.ClickID}}
	for _, k := range []string{"utm_source", "utm_medium", "utm_campaign"} {
		if v := click.Params[k]; v != "" {
			ref.Set(k, v)
		}
	}
	q := u.Query()
	q.Set("referrer", ref.Encode())
	u.RawQuery = q.Encode()
	return u.String()
}
