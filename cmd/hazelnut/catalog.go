package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/publish"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// catalogCommand manages the catalog.
func catalogCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Migrate, seed and publish the catalog"}
	cmd.AddCommand(catalogMigrateCommand(stdout, lookup), catalogSeedCommand(stdout, lookup), catalogSyncCommand(stdout, lookup))
	return cmd
}

// postgresFlags are the flags of the catalog commands that talk to Postgres.
type postgresFlags struct{ url string }

func (f *postgresFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "postgres-url", "", "PostgreSQL URL of the catalog, e.g. postgres://user:pass@host:5432/db")
}

// apply reads the environment twins and checks the flags.
func (f *postgresFlags) apply(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	if err := config.ApplyEnv(fs, lookup); err != nil {
		return err
	}
	flag := fmt.Sprintf("--postgres-url (%s)", config.EnvName("postgres-url"))
	if strings.TrimSpace(f.url) == "" {
		return fmt.Errorf("%s: required", flag)
	}
	if _, err := pgx.ParseConfig(f.url); err != nil {
		return fmt.Errorf("%s: %v", flag, err)
	}
	return nil
}

func catalogMigrateCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	var pg postgresFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the catalog schema in PostgreSQL",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pg.apply(cmd.Flags(), lookup); err != nil {
				return configError{err}
			}
			applied, err := pgstore.Migrate(cmd.Context(), pg.url)
			if err != nil {
				return err
			}
			printMigrated(stdout, applied)
			return nil
		},
	}
	pg.bind(cmd.Flags())
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}

func catalogSeedCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	var pg postgresFlags
	cmd := &cobra.Command{
		Use:   "seed FILE",
		Short: "Load a YAML catalog (docs/catalog.md) into PostgreSQL, migrating first",
		Long: "Load a YAML catalog (docs/catalog.md) into PostgreSQL, migrating the schema first.\n" +
			"New and changed entities are written (their version goes up); unchanged ones are left\n" +
			"alone, so seeding the same file twice changes nothing. Entities missing from the file\n" +
			"are kept.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return configError{errors.New("catalog seed: exactly one FILE is needed")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			if err := pg.apply(cmd.Flags(), lookup); err != nil {
				errs = append(errs, err)
			}
			cat, err := yamlcat.Load(args[0])
			if err != nil {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return configError{errors.Join(errs...)}
			}
			applied, err := pgstore.Migrate(cmd.Context(), pg.url)
			if err != nil {
				return err
			}
			printMigrated(stdout, applied)
			store, err := pgstore.Open(cmd.Context(), pg.url)
			if err != nil {
				return err
			}
			defer store.Close()
			res, err := store.Seed(cmd.Context(), cat)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "catalog: seeded %s: %d written, %d unchanged\n", args[0], res.Written, res.Unchanged)
			return nil
		},
	}
	pg.bind(cmd.Flags())
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return configError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

func printMigrated(w io.Writer, applied []string) {
	if len(applied) == 0 {
		fmt.Fprintln(w, "catalog: schema up to date")
		return
	}
	fmt.Fprintf(w, "catalog: applied %s\n", strings.Join(applied, ", "))
}

// DefaultHorizon is how far back catalog sync keeps dated settings: the
// replay horizon.
const DefaultHorizon = 720 * time.Hour

func catalogSyncCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	var pg postgresFlags
	cfg := config.Defaults()
	horizon := DefaultHorizon
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Publish the catalog from PostgreSQL to the catalog topic",
		Long: "Publish the catalog from PostgreSQL to the compacted topic `catalog` (creating the topic\n" +
			"if it is missing). Each entity is written with its dated history back to --horizon;\n" +
			"entries whose version is not newer than the one on the topic are left alone (older\n" +
			"ones are reported as stale), and rotated tokens and server keys are tombstoned.\n" +
			"No third-party credential is published; SDK signing secrets only sealed with --catalog-key.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if err := pg.apply(cmd.Flags(), lookup); err != nil {
				errs = append(errs, err)
			}
			if err := cfg.Validate(); err != nil {
				errs = append(errs, err)
			}
			if len(cfg.Brokers) == 0 {
				errs = append(errs, fmt.Errorf("--brokers (%s): required for catalog sync", config.EnvName("brokers")))
			}
			if horizon <= 0 {
				errs = append(errs, fmt.Errorf("--horizon (%s): must be positive", config.EnvName("horizon")))
			}
			if len(errs) > 0 {
				return configError{errors.Join(errs...)}
			}
			ctx := cmd.Context()
			kafka := stream.Kafka{Brokers: cfg.Brokers, Version: cfg.Version(),
				Partitions: cfg.Partitions, Replication: cfg.Replication}
			if err := ensureCatalogTopic(cmd, kafka); err != nil {
				return err
			}
			store, err := pgstore.Open(ctx, pg.url)
			if err != nil {
				return err
			}
			defer store.Close()
			snapshot, err := store.Catalog(ctx)
			if err != nil {
				return err
			}
			rotations, err := store.Rotations(ctx, "")
			if err != nil {
				return err
			}
			var opts []publish.Option
			if cfg.CatalogKey != "" {
				key, _ := catalog.ParseCatalogKey(string(cfg.CatalogKey))
				sealer, err := catalog.NewSealer(key)
				if err != nil {
					return configError{err}
				}
				opts = append(opts, publish.WithSealer(sealer))
			} else if snapshotHasSigning(snapshot) {
				fmt.Fprintf(cmd.ErrOrStderr(), "catalog: no --catalog-key (%s): SDK signing secrets are not published; gateways refuse requests that need them\n",
					config.EnvName("catalog-key"))
			}
			res, err := publish.Publish(ctx, kafka, snapshot, rotations, time.Now().Add(-horizon), opts...)
			if err != nil {
				return err
			}
			for _, s := range res.Stale {
				fmt.Fprintf(cmd.ErrOrStderr(), "catalog: stale: %s version %d is older than version %d on the topic; not published\n",
					s.Key, s.Version, s.OnTopic)
			}
			fmt.Fprintf(stdout, "catalog: synced: %d published, %d unchanged, %d stale, %d tombstoned\n",
				len(res.Published), len(res.Unchanged), len(res.Stale), len(res.Tombstoned))
			return nil
		},
	}
	pg.bind(cmd.Flags())
	all := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	cfg.Bind(all)
	for _, name := range append(kafkaFlags, "catalog-key") {
		cmd.Flags().AddFlag(all.Lookup(name))
	}
	cmd.Flags().Lookup("brokers").Usage = "Kafka bootstrap brokers, comma separated (required)"
	cmd.Flags().DurationVar(&horizon, "horizon", horizon, "replay horizon: dated settings that ended before now minus this are dropped")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}

// ensureCatalogTopic creates the catalog topic as topics.yaml declares it
// when it does not exist yet.
func ensureCatalogTopic(cmd *cobra.Command, kafka stream.Kafka) error {
	topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
	if err != nil {
		return err
	}
	decl, ok := topics.Get(publish.Topic)
	if !ok {
		return fmt.Errorf("topics.yaml declares no %s topic", publish.Topic)
	}
	topics.List = []stream.Topic{decl}
	err = kafka.EnsureTopics(cmd.Context(), topics)
	if errors.Is(err, stream.ErrPartitionMismatch) {
		// Readers consume every partition and the writer hashes over the
		// live count, so the catalog works; `topics apply` reports it.
		fmt.Fprintf(cmd.ErrOrStderr(), "catalog: warning: %v\n", err)
		return nil
	}
	return err
}

// snapshotHasSigning reports whether any project has an SDK signing key.
func snapshotHasSigning(c *catalog.Catalog) bool {
	for _, p := range c.Projects {
		for _, sg := range p.Secrets.Signing {
			if len(sg.Keys) > 0 {
				return true
			}
		}
	}
	return false
}
