// Command hazelnut is the one binary of Hazelnut: every role (dev, gateway,
// processor) and every operation is a subcommand. main builds the
// configuration and hands it to run; all wiring lives in this package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hazelnut-mmp/hazelnut/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitConfig is the exit status of a configuration error.
const exitConfig = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// configError marks errors that come from the configuration.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func execute(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	root := newRoot(stdout, lookup)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ce configError
	if errors.As(err, &ce) {
		for _, line := range splitJoined(ce.err) {
			fmt.Fprintf(stderr, "hazelnut: config: %s\n", line)
		}
		return exitConfig
	}
	fmt.Fprintf(stderr, "hazelnut: %v\n", err)
	return 1
}

// splitJoined returns the lines of an errors.Join.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func newRoot(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:           "hazelnut",
		Short:         "Hazelnut: self-hostable mobile attribution",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		roleCommand("dev", "Run everything in one process on embedded defaults", roleDev, stdout, lookup),
		roleCommand("gateway", "Run the HTTP gateway", roleGateway, stdout, lookup),
		roleCommand("processor", "Run processor groups (--groups)", roleProcessor, stdout, lookup),
		topicsCommand(stdout, lookup),
		catalogCommand(stdout, lookup),
		loadCommand(stdout),
		explainCommand(lookup),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintln(cmd.OutOrStdout(), "hazelnut", version)
				return nil
			},
		},
	)
	return root
}

// configure sets the flags cmd was not given from their environment twins
// and validates cfg; failures are configuration errors.
func configure(cmd *cobra.Command, cfg *config.Config, lookup func(string) (string, bool)) error {
	if err := config.ApplyEnv(cmd.Flags(), lookup); err != nil {
		return configError{err}
	}
	if err := cfg.Validate(); err != nil {
		return configError{err}
	}
	return nil
}

func roleCommand(use, short string, r role, stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := configure(cmd, &cfg, lookup); err != nil {
				return err
			}
			if r == roleGateway || r == roleProcessor {
				if len(cfg.Brokers) == 0 {
					return configError{fmt.Errorf("--brokers (%s): required for the %s role", config.EnvName("brokers"), use)}
				}
			}
			log, err := cfg.Logger()
			if err != nil {
				return configError{err}
			}
			defer func() { _ = log.Sync() }()
			return run(cmd.Context(), cfg, r, log, stdout)
		},
	}
	cmd.Flags().SortFlags = false
	cfg.Bind(cmd.Flags())
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}
