package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/gateway"
	"github.com/hazelnut-mmp/hazelnut/gateway/clientip"
	"github.com/hazelnut-mmp/hazelnut/gateway/ratelimit"
	"github.com/hazelnut-mmp/hazelnut/gateway/spool"
	"github.com/hazelnut-mmp/hazelnut/geo"
	"github.com/hazelnut-mmp/hazelnut/internal/admin"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/processors"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/processors/pipeline"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
	"github.com/hazelnut-mmp/hazelnut/stream/pebblestore"
	"github.com/hazelnut-mmp/hazelnut/views"
)

type role int

const (
	roleDev role = iota
	roleGateway
	roleProcessor
)

// demoProjectID is the id of the project `hazelnut dev` serves.
const demoProjectID = "demo"

// run starts one role and blocks until ctx is done or a component fails
// fatally. Broker outages are not fatal: components restart with backoff.
func run(ctx context.Context, cfg config.Config, r role, log *zap.Logger, out io.Writer) error {
	log.Info("starting", append([]zap.Field{zap.String("version", version)}, cfg.Fields()...)...)
	metrics, err := admin.NewMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Provider.Shutdown(context.Background()) }()

	brokers := cfg.Brokers
	replication := cfg.Replication
	if r == roleDev && replication == 0 {
		replication = 1 // one machine: one copy unless told otherwise
	}
	if r == roleDev && len(brokers) == 0 {
		emb, err := stream.StartEmbedded(filepath.Join(cfg.Data, "kafka"), 0)
		if err != nil {
			return err
		}
		defer emb.Close()
		brokers = emb.Brokers()
		log.Info("embedded broker started", zap.Strings("brokers", brokers))
	}
	kafka := stream.Kafka{Brokers: brokers, Version: cfg.Version(), Linger: cfg.Linger,
		Partitions: cfg.Partitions, Replication: replication, InstanceID: cfg.InstanceID, Logger: log,
		Uncompressed: r == roleDev && len(cfg.Brokers) == 0}
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		return err
	}
	tableReplication := replicationOf(topics, string(attribution.Table))

	// Listeners first: a taken port is a configuration error, not something
	// to retry.
	var httpLn, adminLn, grpcLn net.Listener
	listen := func(flag, addr string, ln *net.Listener) error {
		if addr == "" {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return configError{fmt.Errorf("--%s (%s): cannot listen on %s: %v", flag, config.EnvName(flag), addr, err)}
		}
		*ln = l
		return nil
	}
	if r != roleProcessor {
		if err := listen("http", cfg.HTTPAddr, &httpLn); err != nil {
			return err
		}
		if err := listen("grpc", cfg.GRPCAddr, &grpcLn); err != nil {
			return err
		}
	}
	if err := listen("admin", cfg.AdminAddr, &adminLn); err != nil {
		return err
	}

	sup := stream.NewSupervisor(log)
	restarts, _ := metrics.Meter("supervisor").Int64Counter("hazelnut.component.restarts")
	sup.OnRestart = func(string, error) { restarts.Add(context.Background(), 1) }
	var topicsReady, catalogLoaded atomic.Bool
	notReady := func() []string {
		var nr []string
		if !catalogLoaded.Load() && r != roleProcessor {
			nr = append(nr, "catalog")
		}
		if !topicsReady.Load() {
			nr = append(nr, "topics")
		}
		for _, name := range sup.NotReady() {
			// A gateway keeps accepting into its spool while the broker
			// is out of reach.
			if name != "producer" {
				nr = append(nr, name)
			}
		}
		return nr
	}

	g, gctx := errgroup.WithContext(ctx)
	if adminLn != nil {
		g.Go(func() error { return admin.Serve(gctx, adminLn, metrics.Handler(notReady), cfg.ShutdownTimeout) })
	}

	var comps []stream.Component
	viewTables := pebblestore.NewBuilder(filepath.Join(cfg.Data, "tables", "views"), pebblestore.WithLogger(log))
	// The catalog: production roles read the catalog topic (readiness
	// waits for its view); dev and a role given --catalog or a demo token
	// serve a fixed catalog.
	var projects gateway.Projects
	var cat gateway.Catalog
	var welcome catalog.Project
	var catalogView *views.Catalog
	if r != roleDev && cfg.Catalog == "" && cfg.DemoToken == "" {
		catalogView = &views.Catalog{}
		if cfg.CatalogKey != "" {
			key, _ := catalog.ParseCatalogKey(string(cfg.CatalogKey))
			if catalogView.Sealer, err = catalog.NewSealer(key); err != nil {
				return configError{err}
			}
		}
		projects, cat = catalogView, catalogView
		comps = append(comps, catalogView.Component(brokers, kafka.ViewOptions("catalog", viewTables, tableReplication)...))
	} else {
		if projects, welcome, err = loadProjects(cfg); err != nil {
			return configError{err}
		}
		if c, ok := projects.(gateway.Catalog); ok {
			cat = c
		}
	}
	if r != roleGateway {
		groups := cfg.Groups
		if r == roleDev {
			groups = config.Groups
		}
		deps := processors.Deps{}
		if cat != nil {
			deps.Catalog = cat
		}
		pcomps, err := pipeline.Components(groups, pipeline.Config{Kafka: kafka, Deps: deps,
			Dir: filepath.Join(cfg.Data, "tables", "processors"), CacheBytes: cfg.TableCacheBytes, Replication: tableReplication,
			Meter: metrics.Meter("processors"), Log: log})
		if err != nil {
			return configError{err}
		}
		for _, c := range pcomps {
			if catalogView != nil {
				c = afterReady(c, catalogView.Ready)
			}
			comps = append(comps, c)
		}
		comps = append(comps, clock.Ticker(kafka, clock.TickerConfig{}))
	}
	if r != roleProcessor {
		catalogLoaded.Store(true)

		decisions := &views.Decisions{}
		producer := stream.NewProducer()
		// Accepted requests wait for the broker's acknowledgement up to
		// --ack-timeout, then go to the spool, which publishes them in
		// order once the broker is back.
		sp, err := spool.Open(filepath.Join(cfg.Data, "spool"), producer, spool.WithMaxBytes(cfg.SpoolMaxBytes),
			spool.WithSendTimeout(cfg.AckTimeout), spool.WithLogger(log.Named("spool")), spool.WithMeter(metrics.Meter("spool")))
		if err != nil {
			return fmt.Errorf("open spool: %w", err)
		}
		defer sp.Close()
		// Clicks are always written to their own spool (one fsync shared
		// by concurrent redirects) and published from there: a redirect
		// never waits for the broker, and the request spool above stays
		// empty while the broker is up.
		clickSpool, err := spool.Open(filepath.Join(cfg.Data, "spool-clicks"), producer, spool.WithMaxBytes(cfg.SpoolMaxBytes),
			spool.WithSendTimeout(cfg.AckTimeout), spool.WithLogger(log.Named("spool-clicks")), spool.WithMeter(metrics.Meter("spool-clicks")))
		if err != nil {
			return fmt.Errorf("open click spool: %w", err)
		}
		defer clickSpool.Close()
		comps = append(comps,
			clickSpool.Component("spool-clicks"),
			decisions.Component(brokers, kafka.ViewOptions("decisions", viewTables, tableReplication)...),
			producer.Component("producer", kafka, "gateway"),
			sp.Component("spool"),
		)
		ips, err := clientip.New(cfg.TrustedProxies)
		if err != nil {
			return configError{err}
		}
		var geoDB gateway.Geo
		if cfg.GeoIPDB != "" {
			db, err := geo.Open(cfg.GeoIPDB)
			if err != nil {
				return configError{fmt.Errorf("--geoip-db (%s): %v", config.EnvName("geoip-db"), err)}
			}
			defer db.Close()
			geoDB = db
			log.Info("geoip database opened", zap.String("path", cfg.GeoIPDB), zap.String("type", db.DatabaseType()))
		}
		gwOpts := []gateway.Option{gateway.WithClientIP(ips.IP), gateway.WithSigningSkew(cfg.SigningSkew)}
		if cfg.RateLimit > 0 {
			gwOpts = append(gwOpts, gateway.WithRateLimit(newLimiter(cfg, metrics, log), ratelimit.PerSecond(cfg.RateLimit)))
		}
		gw := gateway.New(gateway.Deps{Publisher: sp, Clicks: clickSpool, Decisions: decisions, Projects: projects,
			Catalog: cat, Geo: geoDB, NotReady: notReady},
			append(gwOpts, gateway.WithLogger(log), gateway.WithMeter(metrics.Meter("gateway")), gateway.WithAckTimeout(cfg.AckTimeout+5*time.Second))...)
		g.Go(func() error { return admin.Serve(gctx, httpLn, gw.Handler(), cfg.ShutdownTimeout) })
		if grpcLn != nil {
			g.Go(func() error { return serveGRPC(gctx, grpcLn, notReady) })
		}
		printWelcome(out, r, cfg.HTTPAddr, cfg.AdminAddr, brokers, welcome)
	}

	g.Go(func() error {
		if err := ensureTopics(gctx, kafka, topics, log); err != nil {
			return err
		}
		topicsReady.Store(true)
		return sup.Run(gctx, comps...)
	})

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	select {
	case err := <-done:
		log.Info("stopped")
		return err
	case <-time.After(cfg.ShutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %s", cfg.ShutdownTimeout)
	}
}

// afterReady runs c once ready reports true: processor groups read the
// catalog as of each install's time and must not decide against a catalog
// view that has not recovered.
func afterReady(c stream.Component, ready func() bool) stream.Component {
	run := c.Run
	c.Run = func(ctx context.Context, up func()) error {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for !ready() {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		return run(ctx, up)
	}
	return c
}

// ensureTopics creates missing topics, retrying while the broker is
// unreachable; a partition mismatch is fatal.
func ensureTopics(ctx context.Context, kafka stream.Kafka, topics stream.Topics, log *zap.Logger) error {
	wait := 200 * time.Millisecond
	for {
		err := kafka.EnsureTopics(ctx, topics)
		if err == nil {
			return nil
		}
		if errors.Is(err, stream.ErrPartitionMismatch) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("topics not ready, retrying", zap.Error(err), zap.Duration("backoff", wait))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func replicationOf(t stream.Topics, name string) int {
	if tp, ok := t.Get(name); ok {
		return tp.Replication
	}
	return t.Defaults.Replication
}

func serveGRPC(ctx context.Context, ln net.Listener, notReady func() []string) error {
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			st := healthpb.HealthCheckResponse_SERVING
			if len(notReady()) > 0 {
				st = healthpb.HealthCheckResponse_NOT_SERVING
			}
			hs.SetServingStatus("", st)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		hs.Shutdown()
		srv.GracefulStop()
		return nil
	}
}

// newLimiter limits in Redis when --redis-addr is set (failing open, with
// the failures counted) and in process otherwise.
func newLimiter(cfg config.Config, metrics *admin.Metrics, log *zap.Logger) ratelimit.Limiter {
	if cfg.RedisAddr == "" {
		return ratelimit.NewLocal()
	}
	failures, _ := metrics.Meter("gateway").Int64Counter("hazelnut.ratelimit.failures",
		metric.WithDescription("rate-limit checks that could not reach Redis; the requests were allowed"))
	return ratelimit.FailOpen(ratelimit.NewRedis(redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})),
		ratelimit.WithOnError(func(error) { failures.Add(context.Background(), 1) }), ratelimit.WithLogger(log))
}

// loadProjects is the catalog a gateway serves: the YAML file of --catalog,
// or the demo project with --demo-token / --demo-server-key (random when
// empty). welcome is the project the dev banner shows.
func loadProjects(cfg config.Config) (gateway.Projects, catalog.Project, error) {
	if cfg.Catalog != "" {
		cat, err := yamlcat.Load(cfg.Catalog)
		if err != nil {
			return nil, catalog.Project{}, fmt.Errorf("--catalog (%s): %w", config.EnvName("catalog"), err)
		}
		if len(cat.Projects) == 0 {
			return nil, catalog.Project{}, fmt.Errorf("--catalog (%s): %s has no project", config.EnvName("catalog"), cfg.Catalog)
		}
		return cat, cat.Projects[0].Project(), nil
	}
	proj := catalog.Project{ID: demoProjectID, Name: "Demo app", Token: string(cfg.DemoToken), ServerKey: string(cfg.DemoServerKey)}
	if proj.Token == "" {
		proj.Token = randomSecret()
	}
	if proj.ServerKey == "" {
		proj.ServerKey = randomSecret()
	}
	projects, err := catalog.NewStatic(proj)
	return projects, proj, err
}

func randomSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func printWelcome(out io.Writer, r role, httpAddr, adminAddr string, brokers []string, p catalog.Project) {
	if r != roleDev {
		return
	}
	base := "http://" + httpAddr
	fmt.Fprintf(out, `Hazelnut is starting on %[1]s
  demo project: %[2]s
  token:        %[3]s
  server key:   %[4]s

Try it:
  curl -sS %[1]s/readyz
  curl -sS -X POST %[1]s/api/client/init -H 'Content-Type: application/json' -d '{"token":"%[3]s","platform":"ANDROID","install_instance_id":"demo-install-1","source":"GENERAL","device_data":{"device_name":"Pixel 8"}}'
  curl -sS -X POST %[1]s/api/client/attribution-data -H 'Content-Type: application/json' -d '{"token":"%[3]s","platform":"ANDROID","install_instance_id":"demo-install-1"}'
`, base, p.ID, p.Token, p.ServerKey)
	if len(brokers) > 0 {
		fmt.Fprintf(out, "  hazelnut explain --brokers %s --project %s demo-install-1\n", strings.Join(brokers, ","), p.ID)
	}
	if adminAddr != "" {
		fmt.Fprintf(out, "  curl -sS http://%s/metrics | head\n", adminAddr)
	}
	fmt.Fprintln(out)
}
