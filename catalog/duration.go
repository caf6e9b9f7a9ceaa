package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours (catalog durations ignore daylight saving).
const Day = 24 * time.Hour

// Duration is a time.Duration written as text with an optional day unit:
// "7d", "24h", "1d12h", "90m", "10s". It encodes the same way in JSON and
// YAML.
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d compactly, e.g. "7d", "1d12h", "10s".
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0s"
	}
	sign := ""
	if t < 0 {
		sign, t = "-", -t
	}
	var b strings.Builder
	b.WriteString(sign)
	if days := t / Day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		t -= days * Day
	}
	if t > 0 {
		s := t.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

// ParseDuration parses "7d", "1d12h", "24h", "10s" (no sign).
func ParseDuration(s string) (Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("duration %q is empty", s)
	}
	if strings.HasPrefix(in, "-") || strings.HasPrefix(in, "+") {
		return 0, fmt.Errorf("duration %q must not have a sign", s)
	}
	var total time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		n, err := strconv.ParseInt(in[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q is not like 7d, 24h, 1d12h, 90m or 10s", s)
		}
		total = time.Duration(n) * Day
		in = in[i+1:]
		if in == "" {
			return Duration(total), nil
		}
	}
	rest, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("duration %q is not like 7d, 24h, 1d12h, 90m or 10s", s)
	}
	return Duration(total + rest), nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
