package simulate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGenerateMixAndDeterminism(t *testing.T) {
	cfg := Config{Seed: 7, Installs: 1000, Base: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	w := Generate(cfg)
	if len(w.Installs) != 1000 || len(w.Expected) != 1000 || len(w.Clicks) != 5000 {
		t.Fatalf("%d installs, %d expected, %d clicks", len(w.Installs), len(w.Expected), len(w.Clicks))
	}
	mix := map[string]int{}
	clicks := map[string]int{}
	for i, c := range w.Clicks {
		clicks[c.ClickID] = i
	}
	for i, e := range w.Expected {
		mix[e.MatchType]++
		in := w.Installs[i]
		var dd map[string]string
		if err := json.Unmarshal(in.DeviceData, &dd); err != nil || dd["gaid"] == "" {
			t.Fatalf("install %d device_data %s: %v", i, in.DeviceData, err)
		}
		if e.MatchType == MatchOrganic {
			continue
		}
		c := w.Clicks[clicks[e.ClickID]]
		age := in.ReceivedAt.Sub(c.ReceivedAt)
		if age <= 10*time.Second || age > 7*24*time.Hour {
			t.Errorf("install %d: click %s is %s before it", i, c.ClickID, age)
		}
		switch e.MatchType {
		case MatchDevice:
			if c.Params["gaid"] != dd["gaid"] {
				t.Errorf("install %d: device click has gaid %q, install %q", i, c.Params["gaid"], dd["gaid"])
			}
		case MatchDirect:
			if !strings.HasSuffix(dd["install_ref"], "lr_ia_id="+c.ClickID) {
				t.Errorf("install %d: install_ref %q", i, dd["install_ref"])
			}
		case MatchIP:
			if c.ClientIP != in.ClientIP || age > 24*time.Hour {
				t.Errorf("install %d: ip click %s %s, install %s", i, c.ClientIP, age, in.ClientIP)
			}
		}
	}
	want := map[string]int{MatchDevice: 400, MatchDirect: 300, MatchIP: 200, MatchOrganic: 100}
	if !reflect.DeepEqual(mix, want) {
		t.Errorf("mix %v, want %v", mix, want)
	}
	if again := Generate(cfg); !reflect.DeepEqual(again, w) {
		t.Error("same config, different workload")
	}
	recs, err := w.InstallRecords()
	if err != nil || recs[0].Topic != InstallsTopic || recs[0].Key != w.Expected[0].Key {
		t.Errorf("install record %+v: %v", recs[0], err)
	}
}
