package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore"
	"github.com/hazelnut-mmp/hazelnut/catalog/yamlcat"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
)

// catalogCommand manages the catalog.
func catalogCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Migrate, seed and publish the catalog"}
	cmd.AddCommand(catalogMigrateCommand(stdout, lookup), catalogSeedCommand(stdout, lookup))
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
