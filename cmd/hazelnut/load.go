package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hazelnut-mmp/hazelnut/internal/loadgen"
)

// loadFlags are the settings of `hazelnut load`.
type loadFlags struct {
	url, body, token string
	method           string
	conns            int
	rate             float64
	duration, warmup time.Duration
	timeout          time.Duration
	varyInstall      bool
}

// loadCommand drives an endpoint over persistent connections, in a closed
// loop or at a fixed offered rate, and prints the rate, the answers by
// status and the latency percentiles of the measured period.
func loadCommand(stdout io.Writer) *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Drive an endpoint with concurrent requests and report rate and latency",
		Long: `load sends the body of --body to --url over --conns persistent connections, each sending its
next request as soon as the previous one is answered. After --warmup it measures for --duration
and prints requests per second, the answers by status and the latency percentiles.

With --rate the loop is open: requests are due on a fixed schedule of --rate per second spread
over the connections, and a latency counts from the time its request was due, so a request that
waited for its connection's previous answer carries that wait. The output then also gives the
requests that started late and the latency counted from the actual send.

With --method GET no body is needed (e.g. a click link: redirects are not followed, a 302 is
counted by its status).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return configError{err}
			}
			res, err := loadgen.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			printLoad(stdout, cfg.URL, res)
			if res.Requests == 0 {
				return fmt.Errorf("no request was answered: %v", res.FirstError)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&f.url, "url", "http://127.0.0.1:4000/api/client/init", "URL to send the requests to")
	fs.StringVar(&f.method, "method", http.MethodPost, "HTTP method: POST or GET")
	fs.StringVar(&f.body, "body", "", "file with the JSON request body (required for POST)")
	fs.StringVar(&f.token, "token", "", "replaces the body's \"token\" field when set")
	fs.IntVar(&f.conns, "conns", 64, "persistent connections, one request in flight each")
	fs.Float64Var(&f.rate, "rate", 0, "offered requests per second over all connections (0: closed loop)")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "measured period")
	fs.DurationVar(&f.warmup, "warmup", 5*time.Second, "period before the measured one, not counted")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "bound of one request")
	fs.BoolVar(&f.varyInstall, "vary-install-id", false, "give every request its own install_instance_id")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}

func (f loadFlags) config() (loadgen.Config, error) {
	var errs []error
	method := strings.ToUpper(f.method)
	switch {
	case method != http.MethodPost && method != http.MethodGet:
		errs = append(errs, fmt.Errorf("--method: %q is not POST or GET", f.method))
	case method == http.MethodPost && f.body == "":
		errs = append(errs, errors.New("--body: required for POST"))
	case method == http.MethodGet && (f.body != "" || f.token != "" || f.varyInstall):
		errs = append(errs, errors.New("--body, --token and --vary-install-id apply to POST only"))
	}
	if f.rate < 0 {
		errs = append(errs, fmt.Errorf("--rate: %g is negative", f.rate))
	}
	if f.conns <= 0 || f.conns > 10000 {
		errs = append(errs, fmt.Errorf("--conns: %d is not between 1 and 10000", f.conns))
	}
	if f.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration: %s is not positive", f.duration))
	}
	if f.warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup: %s is negative", f.warmup))
	}
	if err := errors.Join(errs...); err != nil {
		return loadgen.Config{}, err
	}
	cfg := loadgen.Config{URL: f.url, Method: method, Conns: f.conns, Rate: f.rate, Duration: f.duration,
		Warmup: f.warmup, Timeout: f.timeout}
	if method == http.MethodGet {
		return cfg, nil
	}
	raw, err := os.ReadFile(f.body)
	if err != nil {
		return loadgen.Config{}, fmt.Errorf("--body: %v", err)
	}
	cfg.Body, cfg.BodyFunc, err = loadBody(raw, f.token, f.varyInstall)
	if err != nil {
		return loadgen.Config{}, fmt.Errorf("--body %s: %v", f.body, err)
	}
	return cfg, nil
}

// loadBody sets the token of the JSON object raw; with vary it returns a
// body func that gives every request its own install_instance_id.
func loadBody(raw []byte, token string, vary bool) ([]byte, func(uint64) []byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if token != "" {
		obj["token"], _ = json.Marshal(token)
	}
	if !vary {
		if token == "" {
			return raw, nil, nil
		}
		b, err := json.Marshal(obj)
		return b, nil, err
	}
	// The id is spliced between the parts around a marker, so a request
	// costs an append, not a JSON encoding.
	const marker = "\x00install\x00"
	obj["install_instance_id"], _ = json.Marshal(marker)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, err
	}
	quoted, _ := json.Marshal(marker)
	i := bytes.Index(b, quoted)
	prefix, suffix := b[:i+1], b[i+len(quoted)-1:]
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	return nil, func(seq uint64) []byte {
		out := make([]byte, 0, len(prefix)+len(suffix)+32)
		out = append(out, prefix...)
		out = append(out, "load-"...)
		out = append(out, run...)
		out = append(out, '-')
		out = strconv.AppendUint(out, seq, 10)
		return append(out, suffix...)
	}, nil
}

func printLoad(w io.Writer, url string, r loadgen.Result) {
	fmt.Fprintf(w, "%s: %d connections, %s measured\n", url, r.Conns, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  rate      %.0f requests/s (%d answered, %d errors)\n", r.Rate(), r.Requests, r.Errors)
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  status    %d: %d\n", c, r.Statuses[c])
	}
	fmt.Fprintf(w, "  latency   p50 %s  p90 %s  p99 %s  max %s\n", msStr(r.P50), msStr(r.P90), msStr(r.P99), msStr(r.Max))
	if r.Offered > 0 {
		fmt.Fprintf(w, "  offered   %.0f requests/s, %d started late\n", r.Offered, r.Late)
		fmt.Fprintf(w, "  from send p50 %s  p99 %s\n", msStr(r.ServiceP50), msStr(r.ServiceP99))
	}
	if r.FirstError != nil {
		fmt.Fprintf(w, "  error     %v\n", r.FirstError)
	}
}

func msStr(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
