package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"gopkg.in/yaml.v3"

	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/internal/gokatest"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// The scenarios in testdata/scenarios run every group of the pipeline in
// one goka tester against the demo catalog (testdata/catalog/demo.yaml at
// the repository root): clicks and installs go in as the gateway writes
// them, decisions come out of `attributions`. Times are offsets from base.
var base = time.Date(2025, 8, 1, 10, 0, 0, 0, time.UTC)

const project = "demo"

type scenario struct {
	Name   string `yaml:"name"`
	Steps  []step `yaml:"steps"`
	Expect struct {
		Decisions map[string]expectDecision `yaml:"decisions"`
		Opens     map[string][]expectOpen   `yaml:"opens"`
	} `yaml:"expect"`
}

type step struct {
	Click   *clickStep   `yaml:"click"`
	Install *installStep `yaml:"install"`
	// Tick advances every group's watermark as far as the inputs allow
	// and runs a full sweep.
	Tick bool `yaml:"tick"`
}

type clickStep struct {
	ID       string `yaml:"id"`
	At       string `yaml:"at"`
	GAID     string `yaml:"gaid"`
	IDFA     string `yaml:"idfa"`
	IP       string `yaml:"ip"`
	Campaign string `yaml:"campaign"`
	// Count > 1 records that many clicks, ids <id>-0…, Every apart.
	Count int    `yaml:"count"`
	Every string `yaml:"every"`
}

type installStep struct {
	ID       string `yaml:"id"`
	Request  string `yaml:"request"` // defaults to "<id>-first"; another value is an app open
	At       string `yaml:"at"`
	Platform string `yaml:"platform"`
	GAID     string `yaml:"gaid"`
	IDFA     string `yaml:"idfa"`
	IDFV     string `yaml:"idfv"`
	IP       string `yaml:"ip"`
	LrIaID   string `yaml:"lr_ia_id"`
	ATT      string `yaml:"att"`
	// InstallBegin is the Play install_begin time (an offset).
	InstallBegin string `yaml:"install_begin"`
}

type expectDecision struct {
	Source       string            `yaml:"source"`
	Match        string            `yaml:"match"`
	Tier         int               `yaml:"tier"`
	Click        string            `yaml:"click"`
	Campaign     string            `yaml:"campaign"`
	Version      int               `yaml:"version"`
	Contributors []string          `yaml:"contributors"`
	Reinstall    string            `yaml:"reinstall"` // the previous install id
	Reasons      map[string]string `yaml:"reasons"`   // click id → why it lost
}

type expectOpen struct {
	Reengagement bool `yaml:"reengagement"`
	Version      int  `yaml:"version"`
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var scenarios []scenario
		if err := yaml.Unmarshal(b, &scenarios); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, sc := range scenarios {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml")+"/"+sc.Name, func(t *testing.T) { runScenario(t, sc) })
		}
	}
}

type harness struct {
	t         *testing.T
	tt        *tester.Tester
	groups    []processors.Group
	procs     []*goka.Processor
	decisions *tester.QueueTracker
	dlqs      []*tester.QueueTracker
	seq       uint64
}

func startPipeline(t *testing.T) *harness {
	t.Helper()
	cat, err := yamlcat.Load(filepath.Join("..", "..", "testdata", "catalog", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, tt: tester.New(t)}
	deps := processors.Deps{Catalog: cat, Sweep: clock.SweepConfig{Slices: 1}}
	for _, name := range pipeline.Names() {
		g, err := pipeline.Define(name, deps)
		if err != nil {
			t.Fatal(err)
		}
		h.groups, h.procs = append(h.groups, g), append(h.procs, gokatest.Run(t, h.tt, g.Graph))
		h.dlqs = append(h.dlqs, h.tt.NewQueueTracker(name+"-dlq"))
	}
	h.decisions = h.tt.NewQueueTracker(string(attribution.Attributions))
	return h
}

func at(t *testing.T, offset string) time.Time {
	t.Helper()
	if offset == "" {
		return base
	}
	d, err := time.ParseDuration(offset)
	if err != nil {
		t.Fatalf("offset %q: %v", offset, err)
	}
	return base.Add(d)
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) click(c *clickStep) {
	if c.Count > 1 {
		every, err := time.ParseDuration(c.Every)
		if err != nil {
			h.t.Fatalf("every %q: %v", c.Every, err)
		}
		for i := range c.Count {
			one := *c
			one.Count, one.ID = 0, fmt.Sprintf("%s-%d", c.ID, i)
			one.At = (at(h.t, c.At).Sub(base) + time.Duration(i)*every).String()
			h.click(&one)
		}
		return
	}
	params := map[string]string{}
	if c.GAID != "" {
		params["gaid"] = c.GAID
	}
	if c.IDFA != "" {
		params["idfa"] = c.IDFA
	}
	h.tt.Consume("clicks", c.ID, encode(h.t, codecs.Click{ClickID: c.ID, ProjectID: project, CampaignID: c.Campaign,
		Source: "link", ClientIP: c.IP, Params: params, RequestID: "req-" + c.ID, ReceivedAt: at(h.t, c.At)}))
}

func (h *harness) install(s *installStep) {
	dd := map[string]any{}
	for k, v := range map[string]string{"gaid": s.GAID, "idfa": s.IDFA, "idfv": s.IDFV, "att_status": s.ATT} {
		if v != "" {
			dd[k] = v
		}
	}
	if s.LrIaID != "" {
		dd["install_ref"] = "utm_source=hazelnut&lr_ia_id=" + s.LrIaID
	}
	if s.InstallBegin != "" {
		dd["install_ref_installBeginTimestampSeconds"] = at(h.t, s.InstallBegin).Unix()
	}
	platform := s.Platform
	if platform == "" {
		platform = "ANDROID"
	}
	req := s.Request
	if req == "" {
		req = s.ID + "-first"
	}
	h.tt.Consume(string(attribution.Installs), attribution.Key(project, s.ID), encode(h.t, codecs.Install{RequestID: req,
		ProjectID: project, InstallID: s.ID, Platform: platform, DeviceData: encode(h.t, dd), ClientIP: s.IP,
		ReceivedAt: at(h.t, s.At)}))
}

func (h *harness) tick() {
	h.seq++
	h.tt.Consume(string(clock.Ticks), clock.TickKey(0, 1), encode(h.t, clock.Tick{Partition: 0, Partitions: 1, Seq: h.seq, At: base}))
	for i, g := range h.groups {
		if g.Sweeper == nil {
			continue
		}
		if _, err := g.Sweeper.Sweep(context.Background(), h.procs[i]); err != nil {
			h.t.Fatal(err)
		}
	}
}

func runScenario(t *testing.T, sc scenario) {
	h := startPipeline(t)
	for _, s := range sc.Steps {
		switch {
		case s.Click != nil:
			h.click(s.Click)
		case s.Install != nil:
			h.install(s.Install)
		case s.Tick:
			h.tick()
		}
	}
	final := map[string]*codecs.Decision{}
	opens := map[string][]*codecs.Decision{}
	for {
		_, v, ok := h.decisions.Next()
		if !ok {
			break
		}
		d := gokatest.Decode[codecs.Decision](t, v)
		if d.Kind == codecs.KindAppOpen {
			opens[d.InstallID] = append(opens[d.InstallID], d)
			continue
		}
		if cur := final[d.InstallID]; cur == nil || d.Version > cur.Version {
			final[d.InstallID] = d
		}
	}
	for i, q := range h.dlqs {
		if k, v, ok := q.Next(); ok {
			t.Errorf("%s DLQ got %s: %s", h.groups[i].Name, k, v)
		}
	}
	winners := map[string]string{}
	for id, d := range final {
		if d.ClickID == "" {
			continue
		}
		if other, ok := winners[d.ClickID]; ok {
			t.Errorf("click %s won by both %s and %s", d.ClickID, other, id)
		}
		winners[d.ClickID] = id
	}
	for id, want := range sc.Expect.Decisions {
		d := final[id]
		if d == nil {
			t.Errorf("%s: no decision", id)
			continue
		}
		checkDecision(t, id, want, d)
	}
	for id := range final {
		if _, ok := sc.Expect.Decisions[id]; !ok {
			t.Errorf("%s: decided but the scenario expects nothing of it", id)
		}
	}
	for id, want := range sc.Expect.Opens {
		got := opens[id]
		if len(got) != len(want) {
			t.Errorf("%s: %d app opens, want %d", id, len(got), len(want))
			continue
		}
		for i, w := range want {
			if got[i].Reengagement != w.Reengagement || (w.Version != 0 && got[i].Version != w.Version) {
				t.Errorf("%s open %d: reengagement=%v version=%d, want %+v", id, i, got[i].Reengagement, got[i].Version, w)
			}
		}
	}
}

func checkDecision(t *testing.T, id string, want expectDecision, d *codecs.Decision) {
	t.Helper()
	var got []string
	add := func(field string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			got = append(got, fmt.Sprintf("%s=%v (want %v)", field, g, w))
		}
	}
	add("source", d.Source, want.Source)
	add("match", d.MatchType, want.Match)
	add("tier", d.Tier, want.Tier)
	add("click", d.ClickID, want.Click)
	campaign := ""
	if d.Campaign != nil {
		campaign = d.Campaign.ID
	}
	add("campaign", campaign, want.Campaign)
	if want.Version != 0 {
		add("version", d.Version, want.Version)
	}
	var contributors []string
	for _, c := range d.Contributors {
		contributors = append(contributors, c.ClickID)
	}
	add("contributors", contributors, want.Contributors)
	add("reinstall", d.PreviousInstallID, want.Reinstall)
	if d.Reinstall != (want.Reinstall != "") {
		got = append(got, fmt.Sprintf("reinstall flag %v", d.Reinstall))
	}
	reasons := map[string]string{}
	for _, c := range d.Candidates {
		if c.Outcome == "lost" {
			r, _, _ := strings.Cut(c.Reason, ":")
			reasons[c.ClickID] = r
		}
	}
	for click, w := range want.Reasons {
		add("reason of "+click, reasons[click], w)
	}
	if len(got) > 0 {
		sort.Strings(got)
		t.Errorf("%s: %s\ncandidates: %+v", id, strings.Join(got, ", "), d.Candidates)
	}
}
