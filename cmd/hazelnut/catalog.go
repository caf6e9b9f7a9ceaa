package main

import (
	"io"

	"github.com/spf13/cobra"
)

// catalogCommand manages the catalog.
func catalogCommand(stdout io.Writer, lookup func(string) (string, bool)) *cobra.Command {
	return &cobra.Command{Use: "catalog", Short: "Migrate, seed and publish the catalog"}
}
