package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newClusterCmd() *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect the cluster"}
	af.register(cmd)
	status := &cobra.Command{
		Use:   "status",
		Short: "Brokers, controller, partition leaders and ISR, under-replicated partitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				md, err := adm.Metadata(ctx)
				if err != nil {
					return fmt.Errorf("cluster metadata: %w", err)
				}
				fmt.Fprintf(out, "cluster %s, controller %d\n", md.Cluster, md.Controller)
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "BROKER\tHOST\tPORT\tRACK")
				for _, b := range md.Brokers {
					rack := ""
					if b.Rack != nil {
						rack = *b.Rack
					}
					fmt.Fprintf(w, "%d\t%s\t%d\t%s\n", b.NodeID, b.Host, b.Port, rack)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(out)
				w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TOPIC\tPARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tSTATUS")
				under := 0
				for _, t := range md.Topics.Sorted() {
					for _, p := range t.Partitions.Sorted() {
						status := "ok"
						switch {
						case p.Leader < 0:
							status = "offline"
							under++
						case len(p.ISR) < len(p.Replicas):
							status = "under-replicated"
							under++
						}
						fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%v\t%v\t%s\n", t.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, status)
					}
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "\n%d partitions under-replicated or offline\n", under)
				return nil
			})
		},
	}
	cmd.AddCommand(status)
	return cmd
}
