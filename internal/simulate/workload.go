// Package simulate generates attribution workloads and drives them through
// the stream: a seeded, deterministic set of clicks and installs of one
// project whose expected outcome is known per install (Generate), their
// publication — clicks first, then installs, or installs at a fixed rate
// (Preload, Pace) — and the observation of the decisions on `attributions`
// (Watch). Benchmarks use it today; it is meant to grow into a `simulate`
// command.
//
// A workload of N installs has this mix (exact counts, shuffled by the
// seed):
//
//   - 40 % device match: a click carrying the install's GAID (params gaid)
//     up to 6 days before it;
//   - 30 % lr_ia_id match: the install referrer names a click
//     (install_ref "utm_source=sim&lr_ia_id=<click id>") up to 6 days before;
//   - 20 % IP match: a click from the install's client IP up to 23 hours
//     before, without a device id;
//   - 10 % organic: no click can win.
//
// Every install carries a GAID and a client IP of its own. Matching clicks
// are at least 11 s older than their install (the default fraud rule
// rejects clicks less than 10 s before). Decoys fill up to ClicksPerInstall
// clicks per install on average: most are noise (clicks on devices and IPs
// no install has), the others are near misses (a click on an install's own
// device or IP, just outside its window: 7–8 days before for a device, 24–30
// hours for an IP), which must lose.
package simulate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Match types an install is expected to be decided with
// (codecs.Decision.MatchType).
const (
	MatchDevice  = "device"
	MatchDirect  = "lr_ia_id"
	MatchIP      = "ip"
	MatchOrganic = "organic"
)

// Topics the workload is written to and decisions are read from.
const (
	ClicksTopic       = "clicks"
	InstallsTopic     = "installs"
	AttributionsTopic = "attributions"
)

// Config describes a workload. The zero value of every field but Installs
// has a default.
type Config struct {
	// Seed makes the workload reproducible (same config, same records).
	Seed uint64
	// Project is the project id (default "sim").
	Project string
	// Prefix starts every click and install id (default "sim"); workloads
	// published to the same broker need different prefixes.
	Prefix string
	// Space (0–100) separates the device ids and IPs of workloads that
	// share a broker: installs of different spaces never share a key.
	Space int
	// Installs is the number of installs.
	Installs int
	// ClicksPerInstall is the average number of clicks per install,
	// matching click included (default 5).
	ClicksPerInstall float64
	// NearMiss is the share of decoys that are near misses (default 0.3).
	NearMiss float64
	// Base is the event time of the first install (default: now, rounded to
	// the second); install i is at Base + i×Spacing.
	Base    time.Time
	Spacing time.Duration
}

func (c Config) withDefaults() Config {
	if c.Project == "" {
		c.Project = "sim"
	}
	if c.Prefix == "" {
		c.Prefix = "sim"
	}
	if c.ClicksPerInstall <= 0 {
		c.ClicksPerInstall = 5
	}
	if c.NearMiss <= 0 {
		c.NearMiss = 0.3
	}
	if c.Base.IsZero() {
		c.Base = time.Now().UTC().Truncate(time.Second)
	}
	return c
}

// Expected is the outcome an install must be decided with.
type Expected struct {
	// Key is the install's key on `installs` and `attributions`
	// (project:install_instance_id).
	Key       string
	MatchType string
	// ClickID is the click that must win ("" for organic).
	ClickID string
}

// Workload is a generated set of clicks and installs with the expected
// outcome of every install (Expected[i] is for Installs[i]).
type Workload struct {
	Config   Config
	Clicks   []codecs.Click
	Installs []codecs.Install
	Expected []Expected
}

// Generate builds the workload of cfg.
func Generate(cfg Config) *Workload {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Space)<<32|0x5eed))
	n := cfg.Installs
	w := &Workload{Config: cfg, Installs: make([]codecs.Install, 0, n), Expected: make([]Expected, 0, n)}
	total := int(float64(n)*cfg.ClicksPerInstall + 0.5)
	w.Clicks = make([]codecs.Click, 0, total)

	// The exact mix, shuffled.
	kinds := make([]string, n)
	for i := range kinds {
		switch i % 10 {
		case 0, 1, 2, 3:
			kinds[i] = MatchDevice
		case 4, 5, 6:
			kinds[i] = MatchDirect
		case 7, 8:
			kinds[i] = MatchIP
		default:
			kinds[i] = MatchOrganic
		}
	}
	rng.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	const day = 24 * time.Hour
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	for i, kind := range kinds {
		at := cfg.Base.Add(time.Duration(i) * cfg.Spacing)
		gaid, ip := w.installDevice(i), w.installIP(i)
		in := codecs.Install{
			RequestID:  fmt.Sprintf("%s-r%07d", cfg.Prefix, i),
			ProjectID:  cfg.Project,
			InstallID:  fmt.Sprintf("%s-i%07d", cfg.Prefix, i),
			Platform:   "ANDROID",
			Source:     "GENERAL",
			ClientIP:   ip,
			ReceivedAt: at,
		}
		dd := map[string]string{"gaid": gaid}
		exp := Expected{Key: cfg.Project + ":" + in.InstallID, MatchType: kind}
		switch kind {
		case MatchDevice:
			c := w.click(at.Add(-between(11*time.Second, 6*day)), map[string]string{"gaid": gaid}, w.noiseIP(rng))
			exp.ClickID = c.ClickID
		case MatchDirect:
			c := w.click(at.Add(-between(11*time.Second, 6*day)), map[string]string{"gaid": w.noiseDevice(rng)}, w.noiseIP(rng))
			exp.ClickID = c.ClickID
			dd["install_ref"] = "utm_source=sim&lr_ia_id=" + c.ClickID
		case MatchIP:
			c := w.click(at.Add(-between(11*time.Second, 23*time.Hour)), nil, ip)
			exp.ClickID = c.ClickID
		}
		in.DeviceData, _ = json.Marshal(dd)
		w.Installs = append(w.Installs, in)
		w.Expected = append(w.Expected, exp)
	}

	// Decoys up to the total, each about a random install.
	for len(w.Clicks) < total {
		i := rng.IntN(n)
		in := &w.Installs[i]
		switch {
		case rng.Float64() >= cfg.NearMiss:
			var params map[string]string
			if rng.IntN(2) == 0 {
				params = map[string]string{"gaid": w.noiseDevice(rng)}
			}
			w.click(in.ReceivedAt.Add(-between(11*time.Second, 6*day)), params, w.noiseIP(rng))
		case rng.IntN(2) == 0:
			w.click(in.ReceivedAt.Add(-between(7*day+time.Hour, 8*day)), map[string]string{"gaid": w.installDevice(i)}, w.noiseIP(rng))
		default:
			w.click(in.ReceivedAt.Add(-between(24*time.Hour+time.Minute, 30*time.Hour)), nil, in.ClientIP)
		}
	}
	// Clicks are published in the order they were made.
	rng.Shuffle(len(w.Clicks), func(i, j int) { w.Clicks[i], w.Clicks[j] = w.Clicks[j], w.Clicks[i] })
	return w
}

// click appends a click with the next click id.
func (w *Workload) click(at time.Time, params map[string]string, ip string) *codecs.Click {
	id := fmt.Sprintf("%s-c%08d", w.Config.Prefix, len(w.Clicks))
	ua := "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
	w.Clicks = append(w.Clicks, codecs.Click{
		ClickID: id, ProjectID: w.Config.Project, Source: "link", Platform: "ANDROID",
		ClientIP: ip, UserAgent: ua, OS: "Android", Params: params,
		RequestID: id + "-r", ReceivedAt: at.UTC(),
	})
	return &w.Clicks[len(w.Clicks)-1]
}

// installDevice is install i's GAID; noiseDevice a GAID no install has.
func (w *Workload) installDevice(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", w.Config.Space, i)
}

func (w *Workload) noiseDevice(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-ffff-4000-8000-%012x", w.Config.Space, rng.Uint64()&0xffffffffffff)
}

// installIP is install i's client address; noiseIP one no install has.
// The first octet separates spaces and the two kinds.
func (w *Workload) installIP(i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+2*w.Config.Space, i>>16&0xff, i>>8&0xff, i&0xff)
}

func (w *Workload) noiseIP(rng *rand.Rand) string {
	v := rng.Uint32()
	return fmt.Sprintf("%d.%d.%d.%d", 2+2*w.Config.Space, v>>16&0xff, v>>8&0xff, v&0xff)
}

// ClickRecord is a click as the gateway publishes it: on `clicks`, keyed
// by its click id.
func ClickRecord(c *codecs.Click) (stream.Record, error) {
	v, err := json.Marshal(c)
	return stream.Record{Topic: ClicksTopic, Key: c.ClickID, Value: v}, err
}

// InstallRecord is an install as the gateway publishes it: on `installs`,
// keyed project:install_instance_id.
func InstallRecord(in *codecs.Install) (stream.Record, error) {
	v, err := json.Marshal(in)
	return stream.Record{Topic: InstallsTopic, Key: in.ProjectID + ":" + in.InstallID, Value: v}, err
}

// ClickRecords encodes every click.
func (w *Workload) ClickRecords() ([]stream.Record, error) { return records(w.Clicks, ClickRecord) }

// InstallRecords encodes every install.
func (w *Workload) InstallRecords() ([]stream.Record, error) {
	return records(w.Installs, InstallRecord)
}

func records[T any](items []T, encode func(*T) (stream.Record, error)) ([]stream.Record, error) {
	out := make([]stream.Record, len(items))
	for i := range items {
		var err error
		if out[i], err = encode(&items[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
