package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/processors/attribution"
	"github.com/hazelnut-mmp/hazelnut/stream"
	"github.com/hazelnut-mmp/hazelnut/stream/clock"
)

// explainCommand prints how an install was decided, from the attribution
// group's table (its changelog topic): the decision, every candidate click
// and why it lost, and what the install still waits for.
func explainCommand(lookup func(string) (string, bool)) *cobra.Command {
	var project string
	var asJSON bool
	cmd := kafkaCommand("explain [--project P] INSTALL_ID | PROJECT:INSTALL_ID", "Show how an install was attributed and why",
		`Reads the install's entry of the attribution table (topic attribution-table,
the partition goka's hasher gives the key project:INSTALL_ID) and prints its
current decision: source, match type, tier, confidence, campaign, winning
click, contributors, the rules version, the version it corrects, and every
candidate click considered with the reason it did not win. --json prints the
stored entry as is. Exits 1 when the install is not in the table.`,
		lookup, func(ctx context.Context, kafka stream.Kafka, _ stream.Topics, args []string, stdout, _ io.Writer) error {
			install := args[0]
			if project == "" {
				// PROJECT:INSTALL_ID, the table's key, names both.
				p, i, ok := strings.Cut(install, ":")
				if !ok || p == "" || i == "" {
					return configError{fmt.Errorf("--project: required unless the install is given as PROJECT:INSTALL_ID")}
				}
				project, install = p, i
			}
			raw, err := readTableKey(ctx, kafka, string(attribution.Table), attribution.Key(project, install))
			if err != nil {
				return err
			}
			if raw == nil {
				return fmt.Errorf("install %s of project %s is not in the attribution table", install, project)
			}
			if asJSON {
				_, err := fmt.Fprintln(stdout, string(raw))
				return err
			}
			st, err := codecs.Decode[codecs.InstallState](raw)
			if err != nil {
				return err
			}
			return writeExplanation(stdout, st)
		})
	cmd.Args = cobra.ExactArgs(1)
	cmd.Flags().StringVar(&project, "project", "", "the install's project id (or give the install as PROJECT:INSTALL_ID)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the table entry as JSON")
	return cmd
}

// readTableKey returns the latest value of key in a compacted table topic
// (nil when absent or deleted): it reads the key's partition from the
// oldest offset to the end.
func readTableKey(ctx context.Context, kafka stream.Kafka, topic, key string) ([]byte, error) {
	client, err := sarama.NewClient(kafka.Brokers, kafka.Sarama(kafka.ClientID("explain")))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	p := clock.KeyPartition(key, len(parts))
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil || start >= end {
		return nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-pc.Errors():
			return nil, err
		case m := <-pc.Messages():
			if string(m.Key) == key {
				last = m.Value
			}
			if m.Offset >= end-1 {
				return last, nil
			}
		}
	}
}

// writeExplanation prints a decision for people.
func writeExplanation(w io.Writer, st *codecs.InstallState) error {
	in, d := st.Install, st.Decision
	var b strings.Builder
	fmt.Fprintf(&b, "install %s of project %s (%s), installed %s, request %s\n", in.InstallID, in.ProjectID,
		orDash(in.Platform), in.ReceivedAt.UTC().Format(time.RFC3339), in.RequestID)
	if d.Version == 0 {
		fmt.Fprintf(&b, "no decision yet; waiting for: %s\n", strings.Join(st.Waiting, ", "))
	} else {
		fmt.Fprintf(&b, "decision v%d (%s): %s, match %s, tier %d, confidence %.2f, rules %s\n",
			d.Version, d.ID, d.Source, d.MatchType, d.Tier, d.Confidence, d.RulesVersion)
		if d.Campaign != nil {
			fmt.Fprintf(&b, "  campaign %s %q network %s %s\n", d.Campaign.ID, d.Campaign.Name, orDash(d.Campaign.Network), d.Campaign.NetworkID)
		}
		if d.ClickID != "" {
			fmt.Fprintf(&b, "  click %s at %s, %s before the install\n", d.ClickID, d.ClickedAt.UTC().Format(time.RFC3339),
				d.InstalledAt.Sub(d.ClickedAt))
		}
		for _, c := range d.Contributors {
			fmt.Fprintf(&b, "  contributor %s (%s, %s)\n", c.ClickID, c.MatchType, orDash(c.CampaignID))
		}
		if d.Reinstall {
			fmt.Fprintf(&b, "  reinstall; previous install %s\n", d.PreviousInstallID)
		}
		if r := d.Retracts; r != nil {
			fmt.Fprintf(&b, "  corrects v%d (%s, click %s)\n", r.Version, r.Source, orDash(r.ClickID))
		}
		if len(st.Waiting) > 0 {
			fmt.Fprintf(&b, "  waiting for: %s\n", strings.Join(st.Waiting, ", "))
		}
	}
	if st.Opens > 0 {
		fmt.Fprintf(&b, "app opens: %d, last %s\n", st.Opens, st.LastOpenAt.UTC().Format(time.RFC3339))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	cands, title := d.Candidates, "candidates:"
	if st.Explanation != nil {
		cands, title = st.Explanation, "candidates (evaluated again since this version; the outcome held):"
	}
	if len(cands) == 0 {
		_, err := fmt.Fprintln(w, "candidates: none")
		return err
	}
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLICK\tMATCH\tTIER\tCLICKED\tCAMPAIGN\tNETWORK\tOUTCOME\tREASON")
	for _, c := range cands {
		clicked := "-"
		if !c.ClickedAt.IsZero() {
			clicked = c.ClickedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.ClickID, c.MatchType, c.Tier, clicked,
			orDash(c.CampaignID), orDash(c.Network), c.Outcome, orDash(c.Reason))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
