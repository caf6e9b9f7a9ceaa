package main

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// explain reads the latest entry of the install's key from the table
// topic and prints every candidate with why it lost.
func TestExplainPrintsTheDecision(t *testing.T) {
	_, kafka := embeddedWithTopics(t)
	at := time.Date(2025, 8, 1, 10, 0, 0, 0, time.UTC)
	key := attribution.Key("demo", "i1")
	old := codecs.InstallState{Install: codecs.Install{ProjectID: "demo", InstallID: "i1", RequestID: "r1", ReceivedAt: at},
		Decision: codecs.Decision{Version: 1, Source: "ORGANIC", MatchType: "organic"}}
	cur := old
	cur.Decision = codecs.Decision{ID: "d2", Version: 2, Source: "META", MatchType: "device", Tier: 2, Confidence: 0.99,
		RulesVersion: attribution.RulesVersion, Campaign: &codecs.Campaign{ID: "summer-sale", Name: "Summer sale", Network: "META"},
		ClickID: "c1", ClickedAt: at.Add(-time.Hour), InstalledAt: at, Retracts: &codecs.DecisionRef{Version: 1, Source: "ORGANIC"},
		Candidates: []codecs.Candidate{
			{ClickID: "c1", MatchType: "device", Tier: 2, CampaignID: "summer-sale", Network: "META", ClickedAt: at.Add(-time.Hour), Outcome: "won"},
			{ClickID: "c2", MatchType: "device", Tier: 2, ClickedAt: at.Add(-3 * time.Second), Outcome: "lost", Reason: "click_to_install_too_short"},
		}}
	cfg := kafka.ProducerConfig("explain-test")
	prod, err := sarama.NewSyncProducer(kafka.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, v := range []any{old, cur} {
		b, _ := codecs.JSON[codecs.InstallState]{}.Encode(v)
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: string(attribution.Table), Key: sarama.StringEncoder(key),
			Partition: clock.KeyPartition(key, 4), Value: sarama.ByteEncoder(b)}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HAZELNUT_KAFKA_BROKERS": strings.Join(kafka.Brokers, ",")}
	code, out, errOut := runCLI(t, env, "explain", "--project", "demo", "i1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"decision v2 (d2): META, match device, tier 2, confidence 0.99", "campaign summer-sale \"Summer sale\" network META",
		"click c1 at 2025-08-01T09:00:00Z, 1h0m0s before the install", "corrects v1 (ORGANIC", "click_to_install_too_short"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, again, _ := runCLI(t, env, "explain", "demo:i1"); code != 0 || again != out {
		t.Errorf("explain demo:i1: exit %d, output differs:\n%s", code, again)
	}
	if code, _, errOut := runCLI(t, env, "explain", "i1"); code != exitConfig || !strings.Contains(errOut, "--project") {
		t.Errorf("no project: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, env, "explain", "--project", "demo", "nobody"); code == 0 || !strings.Contains(errOut, "not in the attribution table") {
		t.Errorf("unknown install: exit %d, %s", code, errOut)
	}
}
