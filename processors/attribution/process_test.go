package attribution

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/lovoo/goka/tester"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors"
)

var t0 = time.Date(2026, 6, 14, 10, 0, 0, 0, time.UTC)

type harness struct {
	tt                             *tester.Tester
	decisions, dlq, matches, claim *tester.QueueTracker
}

func start(t *testing.T) *harness {
	t.Helper()
	tt := tester.New(t)
	gokatest.Run(t, tt, Define(processors.Deps{}).Graph)
	return &harness{tt: tt, decisions: tt.NewQueueTracker(string(Attributions)), dlq: tt.NewQueueTracker(string(DLQ)),
		matches: tt.NewQueueTracker(string(MatchRequests)), claim: tt.NewQueueTracker(string(Claims))}
}

func install(id, req string, at time.Time, deviceData string) []byte {
	in := codecs.Install{RequestID: req, ProjectID: "p1", InstallID: id, Platform: "ANDROID", ReceivedAt: at}
	if deviceData != "" {
		in.DeviceData = json.RawMessage(deviceData)
	}
	b, _ := codecs.JSON[codecs.Install]{}.Encode(in)
	return b
}

func reply(r codecs.AttributionReply) []byte {
	r.ProjectID = "p1"
	b, _ := codecs.JSON[codecs.AttributionReply]{}.Encode(r)
	return b
}

func next(t *testing.T, q *tester.QueueTracker) (string, *codecs.Decision) {
	t.Helper()
	k, v, ok := q.Next()
	if !ok {
		t.Fatal("expected a decision, none emitted")
	}
	return k, gokatest.Decode[codecs.Decision](t, v)
}

func TestInstallWithoutIdentifiersIsOrganic(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, ""))

	k, d := next(t, h.decisions)
	want := &codecs.Decision{ID: DecisionID("p1", "i1", 1), Kind: codecs.KindDecision, ProjectID: "p1", InstallID: "i1", Version: 1,
		Source: "ORGANIC", MatchType: "organic", Platform: "ANDROID", InstalledAt: t0, RulesVersion: RulesVersion, RequestID: "r1"}
	if k != "p1:i1" {
		t.Errorf("key %q", k)
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	if _, _, ok := h.dlq.Next(); ok {
		t.Error("nothing should reach the DLQ")
	}
}

// A device match: the install asks, the touchpoint answers, the install
// claims the click and decides once it is granted.
func TestDeviceMatchClaimsThenDecides(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"AAAA-1111"}`))
	k, v, ok := h.matches.Next()
	if !ok || k != "p1:aaaa-1111" {
		t.Fatalf("match request %q %v", k, ok)
	}
	if req := gokatest.Decode[codecs.MatchRequest](t, v); req.Window != 7*24*time.Hour || req.Oldest || req.Limit != deviceLimit {
		t.Errorf("request %+v", req)
	}
	if _, _, ok := h.decisions.Next(); ok {
		t.Fatal("decided before the reply")
	}
	click := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", ClickedAt: t0.Add(-time.Hour)}
	h.tt.Consume(string(Replies), "p1:i1", reply(codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "i1",
		Key: "p1:aaaa-1111", Kind: codecs.TouchDevice, Candidates: []codecs.ClickRef{click}, At: t0}))
	k, v, ok = h.claim.Next()
	if !ok || k != "c1" || gokatest.Decode[codecs.ClickClaim](t, v).Op != codecs.ClaimOp {
		t.Fatalf("claim %q %+v", k, v)
	}
	h.tt.Consume(string(Replies), "p1:i1", reply(codecs.AttributionReply{Type: codecs.ReplyClaim, InstallID: "i1",
		ClickID: "c1", Claim: codecs.ClaimGranted, Click: &click, At: t0}))
	_, d := next(t, h.decisions)
	if d.MatchType != "device" || d.ClickID != "c1" || d.Tier != 2 || d.Source != sourceOwnedMedia || d.Version != 1 {
		t.Errorf("decision %+v", d)
	}
}

// An app open is recorded on the attributions topic and never re-decides.
func TestLaterInitsAreAppOpens(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, ""))
	next(t, h.decisions)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r2", t0.Add(time.Hour), ""))
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, "")) // the first request again
	_, open := next(t, h.decisions)
	if open.Kind != codecs.KindAppOpen || open.Version != 1 || open.OpenRequestID != "r2" || open.Reengagement {
		t.Errorf("app open %+v", open)
	}
	if _, _, ok := h.decisions.Next(); ok {
		t.Error("a repeated first init must not emit")
	}
	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if st.Opens != 1 || !st.LastOpenAt.Equal(t0.Add(time.Hour)) || st.Decision.RequestID != "r1" {
		t.Errorf("opens=%d last=%s decided by %s", st.Opens, st.LastOpenAt, st.Decision.RequestID)
	}
}

// An input whose effect is already in state (redelivered after a crash) is
// not applied again, and the decision it produced is sent again with the
// same id.
func TestRedeliveredInputReemits(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, ""))
	_, first := next(t, h.decisions)

	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	st.Absorbed[string(Installs)] = 1 << 40 // pretend everything up to here was absorbed
	h.tt.SetTableValue(Table, "p1:i1", st)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r2", t0.Add(time.Hour), ""))

	_, again := next(t, h.decisions)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("re-emitted decision differs (-first +again):\n%s", diff)
	}
	if got := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState).Opens; got != 0 {
		t.Errorf("redelivery counted as app open: opens=%d", got)
	}
}

func TestBadInputGoesToDLQ(t *testing.T) {
	h := start(t)
	cases := map[string][]byte{
		"p1:bad":   []byte("{not json"),
		"p1:other": install("i1", "r1", t0, ""),                              // key does not match the body
		"p1:i2":    []byte(`{"project_id":"p1","install_instance_id":"i2"}`), // no received_at
	}
	for k, v := range cases {
		h.tt.Consume(string(Installs), k, v)
	}
	h.tt.Consume(string(Replies), "p1:nobody", reply(codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "nobody"}))
	cases["p1:nobody"] = nil
	seen := map[string]bool{}
	for {
		k, v, ok := h.dlq.Next()
		if !ok {
			break
		}
		seen[k] = true
		if want := cases[k]; want != nil && string(v.([]byte)) != string(want) {
			t.Errorf("DLQ record for %s altered: %s", k, v)
		}
	}
	if len(seen) != len(cases) {
		t.Errorf("DLQ got %v, want all of %d bad records", seen, len(cases))
	}
	if _, _, ok := h.decisions.Next(); ok {
		t.Error("bad input must not be decided")
	}
	// The partition keeps going.
	h.tt.Consume(string(Installs), "p1:i9", install("i9", "r9", t0, ""))
	next(t, h.decisions)
}

func TestReferrerClickID(t *testing.T) {
	for ref, want := range map[string]string{
		"utm_source=x&lr_ia_id=abc":           "abc",
		"utm_source%3Dx%26lr_ia_id%3Dabc":     "abc",
		"utm_source=google-play&utm_medium=o": "",
		"":                                    "",
	} {
		if got := referrerClickID(ref); got != want {
			t.Errorf("referrerClickID(%q) = %q, want %q", ref, got, want)
		}
	}
}

func matchReply(key, kind string, clicks ...codecs.ClickRef) []byte {
	return reply(codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "i1", Key: key, Kind: kind, Candidates: clicks, At: t0})
}

func claimReply(click codecs.ClickRef, status, holder string) []byte {
	r := codecs.AttributionReply{Type: codecs.ReplyClaim, InstallID: "i1", ClickID: click.ClickID, Claim: status, Holder: holder, At: t0}
	if status == codecs.ClaimGranted || status == codecs.ClaimDenied {
		r.Click = &click
	}
	return reply(r)
}

func drainDecisions(t *testing.T, q *tester.QueueTracker) []*codecs.Decision {
	t.Helper()
	var out []*codecs.Decision
	for {
		_, v, ok := q.Next()
		if !ok {
			return out
		}
		out = append(out, gokatest.Decode[codecs.Decision](t, v))
	}
}

// Replies delivered twice (a group re-sending after a crash) and out of
// the order they were asked in decide the same, once.
func TestDuplicateAndReorderedReplies(t *testing.T) {
	h := start(t)
	direct := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", ClickedAt: t0.Add(-2 * time.Hour)}
	device := codecs.ClickRef{ClickID: "c2", ProjectID: "p1", ClickedAt: t0.Add(-time.Hour)}
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1","install_ref":"lr_ia_id=c1"}`))
	// The direct claim's answer comes before the match answer, twice.
	h.tt.Consume(string(Replies), "p1:i1", claimReply(direct, codecs.ClaimGranted, ""))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(direct, codecs.ClaimGranted, ""))
	if d := drainDecisions(t, h.decisions); len(d) != 0 {
		t.Fatalf("decided before every answer was in: %+v", d[0])
	}
	// The device click is newer: last touch wins, it is claimed.
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, device))
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, device))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(device, codecs.ClaimGranted, ""))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(device, codecs.ClaimGranted, ""))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(direct, codecs.ClaimGranted, "")) // stale: c1 was given back
	ds := drainDecisions(t, h.decisions)
	if len(ds) != 1 || ds[0].ClickID != "c2" || ds[0].MatchType != "device" || ds[0].Version != 1 {
		t.Fatalf("want one decision for c2, got %d: %+v", len(ds), ds)
	}
	if len(ds[0].Contributors) != 1 || ds[0].Contributors[0].ClickID != "c1" {
		t.Errorf("contributors %+v", ds[0].Contributors)
	}
	var released []string
	for {
		k, v, ok := h.claim.Next()
		if !ok {
			break
		}
		if c := gokatest.Decode[codecs.ClickClaim](t, v); c.Op == codecs.ReleaseOp {
			released = append(released, k)
		}
	}
	if len(released) == 0 || released[0] != "c1" {
		t.Errorf("c1 not given back: %v", released)
	}
	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if len(st.Waiting) != 0 {
		t.Errorf("still waiting for %v", st.Waiting)
	}
}

// A held click taken by an earlier install: the install decides again on
// its next candidate, as a new version that retracts the old one.
func TestRevokedClickRedecides(t *testing.T) {
	h := start(t)
	older := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", ClickedAt: t0.Add(-3 * time.Hour)}
	newer := codecs.ClickRef{ClickID: "c2", ProjectID: "p1", ClickedAt: t0.Add(-time.Hour)}
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1"}`))
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, older, newer))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(newer, codecs.ClaimGranted, ""))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(newer, codecs.ClaimRevoked, "i0"))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(older, codecs.ClaimGranted, ""))
	ds := drainDecisions(t, h.decisions)
	if len(ds) != 2 {
		t.Fatalf("want two versions, got %+v", ds)
	}
	v2 := ds[1]
	if v2.Version != 2 || v2.ClickID != "c1" || v2.Retracts == nil || v2.Retracts.ClickID != "c2" || v2.Retracts.Version != 1 {
		t.Errorf("second version %+v (retracts %+v)", v2, v2.Retracts)
	}
	reasons := map[string]string{}
	for _, c := range v2.Candidates {
		reasons[c.ClickID] = c.Outcome + " " + c.Reason
	}
	if reasons["c2"] != "lost claimed_by_earlier_install:i0" || reasons["c1"] != "won " {
		t.Errorf("explanation %v", reasons)
	}
}

// oneCampaign is a catalog with default settings and one META campaign.
type oneCampaign struct{}

func (oneCampaign) ProjectSettingsAt(string, time.Time) (catalog.Effective, bool, error) {
	return catalog.DefaultEffective(), true, nil
}

func (oneCampaign) CampaignAt(id string, _ time.Time) (string, catalog.CampaignSpec, bool, error) {
	if id != "meta-1" {
		return "", catalog.CampaignSpec{}, false, nil
	}
	return "p1", catalog.CampaignSpec{Name: "Meta one", Network: "META", NetworkCampaignIDs: []string{"12020"}, Deeplink: "app://x"}, true, nil
}

// Every version sends an analytics job and, for an ad network, a postback
// job; a correction first withdraws what the previous version sent. Job ids
// derive from the content.
func TestJobsAndRetractions(t *testing.T) {
	tt := tester.New(t)
	gokatest.Run(t, tt, Define(processors.Deps{Catalog: oneCampaign{}}).Graph)
	postbacks, analytics := tt.NewQueueTracker(string(Postbacks)), tt.NewQueueTracker(string(Analytics))
	click := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", CampaignID: "meta-1", ClickedAt: t0.Add(-time.Hour)}
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1"}`))
	tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, click))
	tt.Consume(string(Replies), "p1:i1", claimReply(click, codecs.ClaimGranted, ""))
	tt.Consume(string(Replies), "p1:i1", claimReply(click, codecs.ClaimRevoked, "i0"))

	jobs := func(q *tester.QueueTracker) []*codecs.Job {
		var out []*codecs.Job
		for {
			_, v, ok := q.Next()
			if !ok {
				return out
			}
			out = append(out, gokatest.Decode[codecs.Job](t, v))
		}
	}
	pb := jobs(postbacks)
	if len(pb) != 2 || pb[0].Network != "META" || pb[0].Retraction || pb[0].Decision.Version != 1 ||
		!pb[1].Retraction || pb[1].Decision.Version != 1 || pb[0].ID == pb[1].ID {
		t.Fatalf("postbacks %+v", pb)
	}
	if pb[0].Decision.Campaign == nil || pb[0].Decision.Campaign.NetworkID != "12020" || pb[0].Decision.Candidates != nil {
		t.Errorf("postback decision %+v", pb[0].Decision)
	}
	an := jobs(analytics)
	if len(an) != 3 || an[0].Retraction || !an[1].Retraction || an[2].Retraction || an[2].Decision.Source != "ORGANIC" {
		t.Fatalf("analytics %+v", an)
	}
}

// A click that arrives after the decision and loses changes no version:
// the decision as sent keeps its content (its id names it), the new
// explanation is kept beside it, and a re-send carries the same content.
func TestLosingLateClickKeepsTheSentVersion(t *testing.T) {
	h := start(t)
	won := codecs.ClickRef{ClickID: "c2", ProjectID: "p1", ClickedAt: t0.Add(-time.Hour)}
	late := codecs.ClickRef{ClickID: "c0", ProjectID: "p1", ClickedAt: t0.Add(-5 * time.Second)} // too close to the install
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1"}`))
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, won))
	h.tt.Consume(string(Replies), "p1:i1", claimReply(won, codecs.ClaimGranted, ""))
	first := drainDecisions(t, h.decisions)
	h.tt.Consume(string(Replies), "p1:i1", reply(codecs.AttributionReply{Type: codecs.ReplyTouch, InstallID: "i1", Key: "p1:g1",
		Kind: codecs.TouchDevice, Candidates: []codecs.ClickRef{late}, At: late.ClickedAt}))
	if d := drainDecisions(t, h.decisions); len(first) != 1 || len(d) != 0 {
		t.Fatalf("versions: first %d, after the late click %d", len(first), len(d))
	}
	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if diff := cmp.Diff(*first[0], st.Decision); diff != "" {
		t.Errorf("stored decision differs from the one sent (-sent +stored):\n%s", diff)
	}
	if len(st.Explanation) != 2 || st.Explanation[0].ClickID != "c0" || st.Explanation[0].Reason != reasonTooFast {
		t.Errorf("explanation %+v", st.Explanation)
	}
	// A redelivered reply re-sends the decision as it was sent.
	st.Absorbed[string(Replies)] = 1 << 40
	h.tt.SetTableValue(Table, "p1:i1", st)
	h.tt.Consume(string(Replies), "p1:i1", claimReply(won, codecs.ClaimGranted, ""))
	again := drainDecisions(t, h.decisions)
	if len(again) != 1 {
		t.Fatalf("re-sent %d decisions", len(again))
	}
	if diff := cmp.Diff(first[0], again[0]); diff != "" {
		t.Errorf("re-sent decision differs (-first +again):\n%s", diff)
	}
}

// A correction re-sent after a crash withdraws the previous version again
// with the same jobs.
func TestRedeliveredCorrectionResendsItsRetractions(t *testing.T) {
	tt := tester.New(t)
	gokatest.Run(t, tt, Define(processors.Deps{Catalog: oneCampaign{}}).Graph)
	postbacks := tt.NewQueueTracker(string(Postbacks))
	click := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", CampaignID: "meta-1", ClickedAt: t0.Add(-time.Hour)}
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1"}`))
	tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice, click))
	tt.Consume(string(Replies), "p1:i1", claimReply(click, codecs.ClaimGranted, ""))
	tt.Consume(string(Replies), "p1:i1", claimReply(click, codecs.ClaimRevoked, "i0"))
	var first []*codecs.Job
	for {
		_, v, ok := postbacks.Next()
		if !ok {
			break
		}
		first = append(first, gokatest.Decode[codecs.Job](t, v))
	}
	st := tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	st.Absorbed[string(Replies)] = 1 << 40
	tt.SetTableValue(Table, "p1:i1", st)
	tt.Consume(string(Replies), "p1:i1", claimReply(click, codecs.ClaimRevoked, "i0"))
	_, v, ok := postbacks.Next()
	if !ok || len(first) != 2 {
		t.Fatalf("postbacks: first %d, again %v", len(first), ok)
	}
	again := gokatest.Decode[codecs.Job](t, v)
	if diff := cmp.Diff(first[1], again); diff != "" || !again.Retraction {
		t.Errorf("re-sent retraction differs (-first +again):\n%s", diff)
	}
}

// An init that comes before the one taken for the install, published late,
// becomes the install: the click side is asked again as of its time, the
// decision is restated with it, and the other init is an app open.
func TestEarlierInitPublishedLateBecomesTheInstall(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r2", t0.Add(time.Hour), `{"gaid":"g1"}`))
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice))
	first := drainDecisions(t, h.decisions)
	for {
		if _, _, ok := h.matches.Next(); !ok {
			break
		}
	}
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"g1"}`))
	_, v, ok := h.matches.Next()
	if !ok || !gokatest.Decode[codecs.MatchRequest](t, v).InstalledAt.Equal(t0) {
		t.Fatalf("no match request as of the earlier init")
	}
	h.tt.Consume(string(Replies), "p1:i1", matchReply("p1:g1", codecs.TouchDevice))
	ds := drainDecisions(t, h.decisions)
	if len(first) != 1 || len(ds) != 2 {
		t.Fatalf("first %d, then %d records", len(first), len(ds))
	}
	open, v2 := ds[0], ds[1]
	if open.Kind != codecs.KindAppOpen || open.OpenRequestID != "r2" {
		t.Errorf("app open %+v", open)
	}
	if v2.Version != 2 || v2.RequestID != "r1" || !v2.InstalledAt.Equal(t0) || v2.Retracts == nil {
		t.Errorf("restated decision %+v", v2)
	}
	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	if st.Install.RequestID != "r1" || st.Opens != 1 || len(st.Waiting) != 0 {
		t.Errorf("state: install %s, opens %d, waiting %v", st.Install.RequestID, st.Opens, st.Waiting)
	}
}

// The earlier init delivered again after a crash sends again the app-open
// record of the init it took the install from, with the same id.
func TestRedeliveredEarlierInitResendsTheAppOpenOfTheInitItDisplaced(t *testing.T) {
	h := start(t)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r2", t0.Add(time.Hour), ""))
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, ""))
	var open *codecs.Decision
	for _, d := range drainDecisions(t, h.decisions) {
		if d.Kind == codecs.KindAppOpen {
			open = d
		}
	}
	if open == nil || open.OpenRequestID != "r2" {
		t.Fatalf("no app open for r2: %+v", open)
	}
	st := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState)
	st.Absorbed[string(Installs)] = 1 << 40 // pretend the earlier init was absorbed before a crash
	h.tt.SetTableValue(Table, "p1:i1", st)
	h.tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, ""))
	var again *codecs.Decision
	for _, d := range drainDecisions(t, h.decisions) {
		if d.Kind == codecs.KindAppOpen {
			again = d
		}
	}
	if again == nil {
		t.Fatal("the redelivered earlier init did not send the app open of r2 again")
	}
	if diff := cmp.Diff(open, again); diff != "" {
		t.Errorf("re-sent app open differs (-first +again):\n%s", diff)
	}
	if got := h.tt.TableValue(Table, "p1:i1").(*codecs.InstallState).Opens; got != 1 {
		t.Errorf("opens = %d after the redelivery, want 1", got)
	}
}

// The gate in front of installs counts an install from its first init
// until nothing it asked is outstanding: through the match answer and the
// claim it leads to, closed by the claim's answer. An organic install and
// an undecodable record close at once.
func TestGateCountsInstallsWaitingForAnswers(t *testing.T) {
	tt := tester.New(t)
	g := Define(processors.Deps{})
	gokatest.Run(t, tt, g.Graph)
	open := func() int { return g.Gate.Open(0) } // the tester runs one partition
	tt.Consume(string(Installs), "p1:i1", install("i1", "r1", t0, `{"gaid":"AAAA-1111"}`))
	if n := open(); n != 1 {
		t.Fatalf("%d open after the install, want 1", n)
	}
	click := codecs.ClickRef{ClickID: "c1", ProjectID: "p1", ClickedAt: t0.Add(-time.Hour)}
	tt.Consume(string(Replies), "p1:i1", reply(codecs.AttributionReply{Type: codecs.ReplyMatch, InstallID: "i1",
		Key: "p1:aaaa-1111", Kind: codecs.TouchDevice, Candidates: []codecs.ClickRef{click}, At: t0}))
	if n := open(); n != 1 {
		t.Fatalf("%d open while the claim is asked, want 1", n)
	}
	tt.Consume(string(Replies), "p1:i1", reply(codecs.AttributionReply{Type: codecs.ReplyClaim, InstallID: "i1",
		ClickID: "c1", Claim: codecs.ClaimGranted, Click: &click, At: t0}))
	if n := open(); n != 0 {
		t.Fatalf("%d open after the decision, want 0", n)
	}
	// As the consumer does before handing the records on:
	for _, k := range []string{"p1:i2", "p1:i3"} {
		g.Gate.Admit(&sarama.ConsumerMessage{Topic: string(Installs), Key: []byte(k)}, nil)
	}
	if n := open(); n != 2 {
		t.Fatalf("%d open after admitting two installs, want 2", n)
	}
	tt.Consume(string(Installs), "p1:i2", install("i2", "r2", t0, ""))
	tt.Consume(string(Installs), "p1:i3", []byte("not json"))
	if n := open(); n != 0 {
		t.Fatalf("%d open after an organic install and a bad record, want 0", n)
	}
}
