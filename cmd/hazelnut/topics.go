package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hazelnut-mmp/hazelnut"
	"github.com/hazelnut-mmp/hazelnut/internal/config"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// topicsCommand manages the topics of topics.yaml.
func topicsCommand(_ io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Create and inspect the topics of topics.yaml"}
	cmd.AddCommand(
		kafkaCommand("apply", "Create missing topics; fail on partition count or cleanup policy differences",
			`Creates every topic of topics.yaml that does not exist yet, with the declared
partition count, replication factor, cleanup policy and retention
(--kafka-partitions and --kafka-replication override every topic).

Nothing is changed on an existing topic. A different partition count or
cleanup policy is an error: each is printed on its own line and the command
exits 1. A different replication factor or retention is printed as a warning.`,
			lookup, topicsApply),
		kafkaCommand("describe", "Show the declared and the live state of every topic",
			`Prints, for every topic of topics.yaml, the live partition count, replication
factor, cleanup policy and retention next to the declared ones ("live/declared"),
and whether the topic is missing or differs; then the live topics topics.yaml
does not declare (Kafka's internal __* topics left out). It changes nothing
and exits 0 whatever it finds; use apply to check.`,
			lookup, topicsDescribe),
	)
	return cmd
}

// kafkaFlags are the settings of config.Config a Kafka operation reads.
var kafkaFlags = []string{"brokers", "kafka-version", "kafka-partitions", "kafka-replication"}

type kafkaOp func(ctx context.Context, kafka stream.Kafka, topics stream.Topics, args []string, stdout, stderr io.Writer) error

// kafkaCommand is an operation against the brokers: it reads the Kafka
// settings of config.Config (flags and their HAZELNUT_* twins) and
// topics.yaml with the overrides applied. --brokers is required.
func kafkaCommand(use, short, long string, lookup func(string) (string, bool), op kafkaOp) *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := configure(cmd, &cfg, lookup); err != nil {
				return err
			}
			if len(cfg.Brokers) == 0 {
				return configError{fmt.Errorf("--brokers (%s): required for %s", config.EnvName("brokers"), strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "))}
			}
			kafka := stream.Kafka{Brokers: cfg.Brokers, Version: cfg.Version(),
				Partitions: cfg.Partitions, Replication: cfg.Replication}
			topics, err := stream.ParseTopics(hazelnut.TopicsYAML, kafka)
			if err != nil {
				return err
			}
			return op(cmd.Context(), kafka, topics, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	all := pflag.NewFlagSet(use, pflag.ContinueOnError)
	cfg.Bind(all)
	cmd.Flags().SortFlags = false
	for _, name := range kafkaFlags {
		cmd.Flags().AddFlag(all.Lookup(name))
	}
	cmd.Flags().Lookup("brokers").Usage = "Kafka bootstrap brokers, comma separated (required)"
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	return cmd
}

// topicsApply creates the missing topics, then compares every declared
// topic with its live state.
func topicsApply(ctx context.Context, kafka stream.Kafka, topics stream.Topics, _ []string, stdout, stderr io.Writer) error {
	before, err := kafka.DescribeTopics(ctx, topics)
	if err != nil {
		return err
	}
	var failed []error
	for _, e := range unjoin(kafka.EnsureTopics(ctx, topics)) {
		// Partition mismatches are reported from the live state below.
		if !errors.Is(e, stream.ErrPartitionMismatch) {
			failed = append(failed, e)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	after, err := kafka.DescribeTopics(ctx, topics)
	if err != nil {
		return err
	}
	return writeApply(stdout, stderr, before, after, failed)
}

// writeApply prints what apply did and found: created topics on stdout,
// each difference and each failure on its own line on stderr. It returns an
// error when a topic could not be created or differs in partition count or
// cleanup policy.
func writeApply(stdout, stderr io.Writer, before, after []stream.TopicState, failed []error) error {
	existed := map[string]bool{}
	for _, s := range before {
		existed[s.Name] = s.Exists
	}
	var created, present, missing int
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var fatal, warnings []stream.Difference
	differing := map[string]bool{}
	for _, s := range after {
		if !s.IsDeclared() {
			continue
		}
		switch {
		case !s.Exists:
			missing++
		case existed[s.Name]:
			present++
		default:
			created++
			d := s.Declared
			fmt.Fprintf(tw, "created\t%s\tpartitions %d\treplication %d\t%s\t%s\n", s.Name, d.Partitions, d.Replication,
				d.Cleanup, declaredRetention(d))
		}
		for _, d := range s.Differences() {
			if d.Fatal {
				fatal = append(fatal, d)
				differing[d.Topic] = true
			} else {
				warnings = append(warnings, d)
			}
		}
	}
	_ = tw.Flush()
	for _, d := range warnings {
		fmt.Fprintf(stderr, "hazelnut: topics apply: warning: %s\n", d)
	}
	for _, d := range fatal {
		fmt.Fprintf(stderr, "hazelnut: topics apply: %s\n", d)
	}
	hint := ""
	for _, e := range failed {
		fmt.Fprintf(stderr, "hazelnut: topics apply: %v\n", e)
		if errors.Is(e, sarama.ErrInvalidReplicationFactor) {
			hint = " (the replication factor exceeds the number of brokers: set --kafka-replication)"
		}
	}
	fmt.Fprintf(stdout, "%d declared topics: %d created, %d already present, %d missing; %d errors, %d warnings\n",
		created+present+missing, created, present, missing, len(fatal)+len(failed), len(warnings))
	switch {
	case len(failed) > 0:
		return fmt.Errorf("topics apply: %s could not be created%s", plural(len(failed), "topic"), hint)
	case len(fatal) > 0:
		verb := "differ"
		if len(differing) == 1 {
			verb = "differs"
		}
		return fmt.Errorf("topics apply: %s %s from topics.yaml in partition count or cleanup policy; "+
			"nothing was changed on existing topics", plural(len(differing), "topic"), verb)
	case missing > 0:
		return fmt.Errorf("topics apply: %s still missing after creation", plural(missing, "topic"))
	}
	return nil
}

func topicsDescribe(ctx context.Context, kafka stream.Kafka, topics stream.Topics, _ []string, stdout, _ io.Writer) error {
	states, err := kafka.DescribeTopics(ctx, topics)
	if err != nil {
		return err
	}
	writeDescribe(stdout, states)
	return nil
}

// writeDescribe prints the declared topics as live/declared pairs with
// their status, then the live topics topics.yaml does not declare.
func writeDescribe(w io.Writer, states []stream.TopicState) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION\tCLEANUP\tRETENTION\tSTATUS")
	var ok, missing, differ, extra int
	for _, s := range states {
		if !s.IsDeclared() {
			extra++
			continue
		}
		d := s.Declared
		status := "missing"
		switch {
		case !s.Exists:
			missing++
		default:
			status = diffStatus(s.Differences())
			if status == "ok" {
				ok++
			} else {
				differ++
			}
		}
		fmt.Fprintf(tw, "%s\t%s/%d\t%s/%d\t%s/%s\t%s/%s\t%s\n", s.Name,
			liveInt(s, s.Partitions), d.Partitions, liveInt(s, s.Replication), d.Replication,
			liveStr(s, s.Cleanup), d.Cleanup, liveRetention(s), declaredRetention(d), status)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d declared topics (columns live/declared): %d ok, %d missing, %d differ\n", ok+missing+differ, ok, missing, differ)
	if extra == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s not declared in topics.yaml:\n", plural(extra, "live topic"))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION\tCLEANUP\tRETENTION")
	for _, s := range states {
		if !s.IsDeclared() {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", s.Name, s.Partitions, s.Replication, liveStr(s, s.Cleanup), liveRetention(s))
		}
	}
	_ = tw.Flush()
}

// diffStatus summarises differences: "ok", or "error: partitions" and/or
// "warning: retention.ms".
func diffStatus(diffs []stream.Difference) string {
	var errs, warns []string
	for _, d := range diffs {
		if d.Fatal {
			errs = append(errs, d.Setting)
		} else {
			warns = append(warns, d.Setting)
		}
	}
	var parts []string
	if len(errs) > 0 {
		parts = append(parts, "error: "+strings.Join(errs, ","))
	}
	if len(warns) > 0 {
		parts = append(parts, "warning: "+strings.Join(warns, ","))
	}
	if len(parts) == 0 {
		return "ok"
	}
	return strings.Join(parts, "; ")
}

func liveInt(s stream.TopicState, v int) string {
	if !s.Exists {
		return "-"
	}
	return strconv.Itoa(v)
}

func liveStr(s stream.TopicState, v string) string {
	if !s.Exists || v == "" {
		return "-"
	}
	return v
}

// liveRetention is the live retention.ms of a topic whose cleanup policy
// deletes; a compact-only topic keeps every key's latest value whatever it
// says.
func liveRetention(s stream.TopicState) string {
	if !s.Exists || s.Retention == 0 || !strings.Contains(s.Cleanup, stream.CleanupDelete) {
		return "-"
	}
	return stream.ShortDuration(s.Retention)
}

// declaredRetention is the declared retention; compacted topics keep every
// key's latest value, so none is declared for them.
func declaredRetention(d stream.Topic) string {
	if d.Cleanup != stream.CleanupDelete || d.Retention <= 0 {
		return "-"
	}
	return stream.ShortDuration(d.Retention)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// unjoin returns the errors of an errors.Join (nil for nil).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
