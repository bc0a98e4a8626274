// Command strata is the one Strata binary: the broker (`strata serve`) and
// the tools that talk to it.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"strings"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "A Kafka-compatible broker with tiered storage",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd)
		},
	}
	root.AddCommand(newServeCmd(), newTopicCmd(), newTierCmd(), newClusterCmd(), newGroupCmd(), newBenchCmd(), newExportCmd(), newPartitionCmd(), newUserCmd(), newACLCmd(), newCertsCmd())
	return root
}

// flagsFromEnv fills every flag not given on the command line from
// STRATA_<FLAG> (upper case, dashes as underscores).
func flagsFromEnv(cmd *cobra.Command) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil {
			return
		}
		env := "STRATA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				firstErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	return firstErr
}
