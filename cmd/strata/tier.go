package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/tiering"
)

func newTierCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tier", Short: "Inspect the cold tier (Parquet files in the object store)"}
	var (
		urls    []string
		topic   string
		asJSON  bool
		timeout time.Duration
	)
	status := &cobra.Command{
		Use:   "status",
		Short: "Per partition: local and remote offset ranges and sizes",
		Long: `Per partition led by the given brokers: the local log's offset range and size,
the cold tier's offset range, object bytes and files, and the sealed bytes not
yet tiered. Asks each broker's HTTP listener (--metrics-listen of strata serve).`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var all []tiering.PartitionStatus
			for _, u := range urls {
				st, err := tiering.FetchStatus(ctx, u, topic)
				if err != nil {
					return fmt.Errorf("tier status from %s: %w", u, err)
				}
				all = append(all, st...)
			}
			sort.Slice(all, func(i, j int) bool {
				if all[i].Topic != all[j].Topic {
					return all[i].Topic < all[j].Topic
				}
				return all[i].Partition < all[j].Partition
			})
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			}
			if topic != "" && len(all) == 0 {
				return fmt.Errorf("no partition of topic %s is led by %v", topic, urls)
			}
			printTierStatus(os.Stdout, all)
			return nil
		},
	}
	status.Flags().StringSliceVar(&urls, "admin-url", []string{"http://localhost:9644"}, "HTTP listeners of the brokers to ask, comma separated")
	status.Flags().StringVar(&topic, "topic", "", "only this topic")
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	status.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the brokers")
	cmd.AddCommand(status)
	return cmd
}

func rangeString(start, end int64) string {
	if start < 0 || end <= start {
		return "-"
	}
	return fmt.Sprintf("%d..%d", start, end-1)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printTierStatus(w io.Writer, all []tiering.PartitionStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLOCAL OFFSETS\tLOCAL SIZE\tSEGMENTS\tREMOTE OFFSETS\tREMOTE SIZE\tFILES\tUNTIERED\tTIERING\tICEBERG")
	for _, s := range all {
		state := "on"
		if !s.RemoteEnable {
			state = "off"
		}
		if s.LastError != "" {
			state = "failing: " + s.LastError
		}
		table := "-"
		if s.Iceberg {
			table = fmt.Sprintf("v%d snapshot %d (%s), %d files, %s", s.TableVersion, s.TableSnap, s.TableOp, s.TableFiles, humanBytes(s.TableBytes))
			if s.TableLag > 0 {
				table += fmt.Sprintf(", %d offsets behind", s.TableLag)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Topic, s.Partition,
			rangeString(s.LocalStart, s.LocalEnd), humanBytes(s.LocalBytes), s.LocalSegments,
			rangeString(s.RemoteStart, s.RemoteEnd), humanBytes(s.RemoteBytes), s.RemoteFiles,
			humanBytes(s.UntieredSealedBytes), state, table)
	}
	tw.Flush()
}
