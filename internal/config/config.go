// Package config is the one configuration struct every role reads: flags
// with HAZELNUT_* environment twins, defaults, validation that names each
// bad setting on one line, and secrets masked whenever they are printed.
// Libraries never read the environment; cmd/hazelnut binds this struct.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Secret is a string that never prints itself.
type Secret string

// String masks the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

// Groups lists every processor group a `processor` role can run.
var Groups = []string{"clicks", "touchpoints", "attribution", "decisions", "device-installs"}

// Config is the configuration of every role.
type Config struct {
	// Data is the directory of local state (tables, spool, embedded broker).
	Data string
	// HTTPAddr is the gateway's listen address.
	HTTPAddr string
	// GRPCAddr is the gRPC listen address; empty disables gRPC.
	GRPCAddr string
	// AdminAddr serves /healthz, /readyz and /metrics; empty disables it.
	AdminAddr string

	// Brokers are Kafka bootstrap addresses; empty in dev means the
	// embedded broker.
	Brokers []string
	// KafkaVersion is the protocol version spoken to the brokers.
	KafkaVersion string
	// Partitions and Replication override topics.yaml when > 0.
	Partitions, Replication int
	// Linger is the producers' batching delay.
	Linger time.Duration
	// AckTimeout bounds how long a request waits for the broker.
	AckTimeout time.Duration
	// RedisAddr is the Redis used for rate limits; empty means an
	// in-process limiter (one process only).
	RedisAddr string
	// RateLimit is the default client API limit per token and per client
	// address, in requests per second; 0 disables it.
	RateLimit int
	// TrustedProxies are the CIDRs whose X-Forwarded-For the gateway
	// believes for the client address.
	TrustedProxies []string

	// Groups are the processor groups a processor role runs.
	Groups []string
	// InstanceID makes this process a static consumer group member; empty
	// means dynamic membership.
	InstanceID string

	// DemoToken and DemoServerKey are the demo project's credentials in dev.
	DemoToken, DemoServerKey Secret
	// Catalog is a YAML catalog file (docs/catalog.md) served instead of
	// the demo project; empty means the demo project.
	Catalog string
	// CatalogKey seals SDK signing secrets on the catalog topic (catalog
	// sync) and opens them (gateway): 32 bytes, hex or base64.
	CatalogKey Secret
	// SigningSkew bounds how far a signed request's timestamp may be from
	// the gateway's clock.
	SigningSkew time.Duration
	// SpoolMaxBytes bounds the gateway's local spool for broker outages.
	SpoolMaxBytes int64
	// TableCacheBytes is the block cache shared by the tables of every
	// processor group this process runs.
	TableCacheBytes int64
	// GeoIPDB is a MaxMind-format MMDB file (GeoLite2-City or GeoIP2-City)
	// locating clicks by client address; empty leaves geo fields empty.
	GeoIPDB string

	LogLevel  string
	LogFormat string
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Data:            "./data",
		HTTPAddr:        "127.0.0.1:4000",
		GRPCAddr:        "127.0.0.1:4001",
		AdminAddr:       "127.0.0.1:4002",
		KafkaVersion:    "3.6.0",
		Linger:          5 * time.Millisecond,
		AckTimeout:      5 * time.Second,
		RateLimit:       25,
		SigningSkew:     5 * time.Minute,
		SpoolMaxBytes:   256 << 20,
		TableCacheBytes: 1 << 30,
		Groups:          slices.Clone(Groups),
		LogLevel:        "info",
		LogFormat:       "console",
		ShutdownTimeout: 15 * time.Second,
	}
}

// envNames maps flags whose environment twin is not HAZELNUT_<FLAG>.
var envNames = map[string]string{"brokers": "HAZELNUT_KAFKA_BROKERS"}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	if e, ok := envNames[name]; ok {
		return e
	}
	return "HAZELNUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Bind registers c's settings as flags on fs, with c's values as defaults.
func (c *Config) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Data, "data", c.Data, "directory of local state")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address of the gateway")
	fs.StringVar(&c.GRPCAddr, "grpc", c.GRPCAddr, "gRPC listen address (empty: off)")
	fs.StringVar(&c.AdminAddr, "admin", c.AdminAddr, "admin listen address for /healthz, /readyz, /metrics (empty: off)")
	fs.StringSliceVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap brokers, comma separated (dev: empty runs the embedded broker)")
	fs.StringVar(&c.KafkaVersion, "kafka-version", c.KafkaVersion, "Kafka protocol version")
	fs.IntVar(&c.Partitions, "kafka-partitions", c.Partitions, "partitions of every topic, overriding topics.yaml (0: as declared)")
	fs.IntVar(&c.Replication, "kafka-replication", c.Replication, "replication factor of every topic, overriding topics.yaml (0: as declared)")
	fs.DurationVar(&c.Linger, "kafka-linger", c.Linger, "producer batching delay")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", c.AckTimeout, "longest wait for the broker before a request is answered 503")
	fs.StringVar(&c.RedisAddr, "redis-addr", c.RedisAddr, "Redis for rate limits, host:port (empty: in-process limits)")
	fs.IntVar(&c.RateLimit, "rate-limit", c.RateLimit, "client API requests per second per token and per client address (0: off)")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "CIDRs of proxies whose X-Forwarded-For (and, on the web collector, X-Linkrunner-Visitor-IP) gives the client address")
	fs.StringSliceVar(&c.Groups, "groups", c.Groups, "processor groups to run ("+strings.Join(Groups, ",")+")")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "stable id of this process for static group membership (empty: dynamic)")
	fs.Var(secretValue{&c.DemoToken}, "demo-token", "client token of the demo project (random when empty)")
	fs.Var(secretValue{&c.DemoServerKey}, "demo-server-key", "server key of the demo project (random when empty)")
	fs.StringVar(&c.Catalog, "catalog", c.Catalog, "YAML catalog file to serve instead of the demo project (docs/catalog.md)")
	fs.Var(secretValue{&c.CatalogKey}, "catalog-key", "key sealing SDK signing secrets on the catalog topic: 32 bytes, hex or base64 (catalog sync and gateway)")
	fs.DurationVar(&c.SigningSkew, "signing-skew", c.SigningSkew, "largest difference between a signed request's x-Timestamp and the gateway's clock")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "bound of the gateway's local spool used while the broker is out of reach")
	fs.Int64Var(&c.TableCacheBytes, "table-cache-bytes", c.TableCacheBytes, "block cache shared by the tables of the processor groups (bytes)")
	fs.StringVar(&c.GeoIPDB, "geoip-db", c.GeoIPDB, "MaxMind-format MMDB file (GeoLite2-City or GeoIP2-City) locating clicks by client address (empty: no geo)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "console or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "longest graceful stop")
}

type secretValue struct{ s *Secret }

func (v secretValue) String() string {
	if v.s == nil {
		return ""
	}
	return v.s.String()
}
func (v secretValue) Set(s string) error { *v.s = Secret(s); return nil }
func (v secretValue) Type() string       { return "string" }

// ApplyEnv sets every flag that was not given on the command line from its
// environment twin. lookup is os.LookupEnv in production.
func ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		env := EnvName(f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			var items []string
			for _, it := range strings.Split(v, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			if err := sv.Replace(items); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q: %v", env, v, err))
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %v", env, v, err))
		}
	})
	return errors.Join(errs...)
}

// Validate reports every bad setting, one line each, naming the flag and
// its environment twin.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", flag, EnvName(flag), fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Data) == "" {
		bad("data", "must not be empty")
	}
	checkAddr := func(flag, v string, optional bool) {
		if v == "" && optional {
			return
		}
		if err := validAddr(v); err != nil {
			bad(flag, "%q %v", v, err)
		}
	}
	checkAddr("http", c.HTTPAddr, false)
	checkAddr("grpc", c.GRPCAddr, true)
	checkAddr("admin", c.AdminAddr, true)
	for _, b := range c.Brokers {
		if err := validAddr(b); err != nil {
			bad("brokers", "%q %v", b, err)
		}
	}
	if _, err := sarama.ParseKafkaVersion(c.KafkaVersion); err != nil {
		bad("kafka-version", "%q is not a Kafka version like 3.6.0", c.KafkaVersion)
	}
	if c.CatalogKey != "" {
		if _, err := catalog.ParseCatalogKey(string(c.CatalogKey)); err != nil {
			bad("catalog-key", "%v", err)
		}
	}
	if c.SigningSkew < time.Second || c.SigningSkew > time.Hour {
		bad("signing-skew", "%s is not between 1s and 1h", c.SigningSkew)
	}
	if c.SpoolMaxBytes < 1<<20 {
		bad("spool-max-bytes", "%d is less than 1 MiB", c.SpoolMaxBytes)
	}
	if c.TableCacheBytes < 8<<20 {
		bad("table-cache-bytes", "%d is less than 8 MiB", c.TableCacheBytes)
	}
	if c.Partitions < 0 || c.Partitions > 1024 {
		bad("kafka-partitions", "%d is not between 0 and 1024", c.Partitions)
	}
	if c.Replication < 0 || c.Replication > 16 {
		bad("kafka-replication", "%d is not between 0 and 16", c.Replication)
	}
	if c.Linger < 0 || c.Linger > time.Second {
		bad("kafka-linger", "%s is not between 0 and 1s", c.Linger)
	}
	if c.AckTimeout < 100*time.Millisecond || c.AckTimeout > time.Minute {
		bad("ack-timeout", "%s is not between 100ms and 1m", c.AckTimeout)
	}
	checkAddr("redis-addr", c.RedisAddr, true)
	if c.RateLimit < 0 || c.RateLimit > 1_000_000 {
		bad("rate-limit", "%d is not between 0 and 1000000", c.RateLimit)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad("trusted-proxies", "%q is not an address or CIDR", p)
			}
		}
	}
	for _, g := range c.Groups {
		if !slices.Contains(Groups, g) {
			bad("groups", "unknown group %q (known: %s)", g, strings.Join(Groups, ", "))
		}
	}
	if c.InstanceID != "" && !validInstanceID(c.InstanceID) {
		bad("instance-id", "%q may only contain letters, digits, '.', '_' and '-' (at most 200)", c.InstanceID)
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		bad("log-level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "console" && c.LogFormat != "json" {
		bad("log-format", "%q is not console or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "%s must be positive", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

func validInstanceID(v string) bool {
	if len(v) > 200 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("is not host:port")
	}
	_ = host
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("has no valid port")
	}
	return nil
}

// Version returns the parsed Kafka version; call after Validate.
func (c Config) Version() sarama.KafkaVersion {
	v, _ := sarama.ParseKafkaVersion(c.KafkaVersion)
	return v
}

// Fields are c's values for a log line, secrets masked.
func (c Config) Fields() []zap.Field {
	return []zap.Field{
		zap.String("data", c.Data), zap.String("http", c.HTTPAddr), zap.String("grpc", c.GRPCAddr),
		zap.String("admin", c.AdminAddr), zap.Strings("brokers", c.Brokers), zap.String("kafka_version", c.KafkaVersion),
		zap.Int("kafka_partitions", c.Partitions), zap.Int("kafka_replication", c.Replication),
		zap.Duration("kafka_linger", c.Linger), zap.Strings("groups", c.Groups), zap.String("instance_id", c.InstanceID),
		zap.Stringer("demo_token", c.DemoToken), zap.Stringer("demo_server_key", c.DemoServerKey),
		zap.String("catalog", c.Catalog), zap.String("redis", c.RedisAddr), zap.Int("rate_limit", c.RateLimit),
		zap.Stringer("catalog_key", c.CatalogKey), zap.Duration("signing_skew", c.SigningSkew), zap.Int64("spool_max_bytes", c.SpoolMaxBytes), zap.Int64("table_cache_bytes", c.TableCacheBytes),
		zap.String("geoip_db", c.GeoIPDB),
	}
}

// Logger builds the zap logger c asks for, writing to stderr.
func (c Config) Logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if c.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	return zc.Build()
}
