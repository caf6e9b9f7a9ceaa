package main

import (
	"io"

	"github.com/spf13/cobra"
)

// topicsCommand manages the topics of topics.yaml.
func topicsCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	return &cobra.Command{Use: "topics", Short: "Create and inspect the topics of topics.yaml"}
}
