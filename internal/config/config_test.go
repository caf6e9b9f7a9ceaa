package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func bind(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Defaults()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvTwinsAndFlagPrecedence(t *testing.T) {
	c, err := bind(t, []string{"--http", "127.0.0.1:5000"}, map[string]string{
		"HAZELNUT_HTTP":             "127.0.0.1:6000", // the flag wins
		"HAZELNUT_DATA":             "/srv/hz",
		"HAZELNUT_KAFKA_BROKERS":    "k1:9092, k2:9092",
		"HAZELNUT_KAFKA_LINGER":     "2ms",
		"HAZELNUT_DEMO_TOKEN":       "tok",
		"HAZELNUT_GROUPS":           "attribution",
		"HAZELNUT_UNRELATED_VAR":    "x",
		"HAZELNUT_KAFKA_VERSION":    "3.9.0",
		"HAZELNUT_SHUTDOWN_TIMEOUT": "3s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:5000" || c.Data != "/srv/hz" || c.Linger != 2*time.Millisecond ||
		strings.Join(c.Brokers, ",") != "k1:9092,k2:9092" || c.DemoToken != "tok" ||
		strings.Join(c.Groups, ",") != "attribution" || c.KafkaVersion != "3.9.0" || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestBadEnvValueNamesTheVariable(t *testing.T) {
	_, err := bind(t, nil, map[string]string{"HAZELNUT_KAFKA_LINGER": "soon"})
	if err == nil || !strings.Contains(err.Error(), "HAZELNUT_KAFKA_LINGER") {
		t.Fatalf("got %v", err)
	}
}

// Every bad value is reported on its own line naming the flag and the
// environment variable.
func TestValidateOneLinePerBadSetting(t *testing.T) {
	c := Defaults()
	c.HTTPAddr = "nowhere"
	c.Brokers = []string{"k1"}
	c.KafkaVersion = "latest"
	c.Groups = []string{"attribution", "clickz"}
	c.LogLevel = "loud"
	c.AckTimeout = time.Hour
	err := c.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"--http (HAZELNUT_HTTP)", "--brokers (HAZELNUT_KAFKA_BROKERS)", "--kafka-version (HAZELNUT_KAFKA_VERSION)",
		"--ack-timeout (HAZELNUT_ACK_TIMEOUT)", `--groups (HAZELNUT_GROUPS): unknown group "clickz"`, "--log-level (HAZELNUT_LOG_LEVEL)",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestSecretsAreMaskedInLogs(t *testing.T) {
	c := Defaults()
	c.DemoToken, c.DemoServerKey = "tok-very-secret", "key-very-secret"
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel)
	zap.New(core).Info("starting", c.Fields()...)
	if strings.Contains(buf.String(), "very-secret") {
		t.Fatalf("secret leaked: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"demo_token":"****"`) {
		t.Fatalf("masked secret missing: %s", buf.String())
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.Bind(fs)
	if strings.Contains(fs.FlagUsages(), "very-secret") {
		t.Fatal("secret leaked into usage")
	}
}

func TestTrustedProxies(t *testing.T) {
	c := Defaults()
	c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "::1/128"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.TrustedProxies = []string{"10.0.0.0/33"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--trusted-proxies (HAZELNUT_TRUSTED_PROXIES)") {
		t.Fatalf("got %v", err)
	}
}
