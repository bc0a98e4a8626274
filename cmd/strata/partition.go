package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/fileutil"
)

func newPartitionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "partition", Short: "Inspect offline and quarantined partitions of a broker"}
	cmd.AddCommand(newPartitionOfflineCmd(), newQuarantineCmd())
	return cmd
}

func newPartitionOfflineCmd() *cobra.Command {
	var (
		urls    []string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "offline",
		Short: "List the partitions the brokers host but could not open",
		Long: `List the partitions each broker hosts but could not open (no file descriptors,
a corrupt or unreadable file): they answer KAFKA_STORAGE_ERROR and are retried
while the broker serves the others. Asks each broker's HTTP listener
(--metrics-listen of strata serve). Exits with an error when any is offline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BROKER\tTOPIC\tPARTITION\tSINCE\tATTEMPTS\tERROR")
			n := 0
			for _, u := range urls {
				list, err := fetchOffline(ctx, u)
				if err != nil {
					return fmt.Errorf("offline partitions from %s: %w", u, err)
				}
				for _, o := range list {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", u, o.Topic, o.Partition, o.Since.Format(time.RFC3339), o.Attempts, o.Error)
				}
				n += len(list)
			}
			tw.Flush()
			if n > 0 {
				return fmt.Errorf("%d partitions offline", n)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "no partition offline")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&urls, "admin-url", []string{"http://localhost:9644"}, "HTTP listeners of the brokers to ask, comma separated")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the brokers")
	return cmd
}

func fetchOffline(ctx context.Context, base string) ([]broker.OfflinePartition, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+broker.OfflinePartitionsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	var out []broker.OfflinePartition
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return out, nil
}

func newQuarantineCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List, restore or delete partition directories a broker moved aside",
		Long: `A broker never deletes a partition directory that does not match etcd (one of
another topic id, or a torn partition.metadata with a log newer than etcd knows):
it moves it into <data-dir>/quarantine with a loud log line and the
strata_quarantined_partitions metric. These commands work on the data directory
of a stopped broker (restore and delete take the data directory's lock).`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "./strata-data", "the broker's data directory")
	qdir := func() string { return filepath.Join(dataDir, "quarantine") }
	list := &cobra.Command{
		Use:   "list",
		Short: "List quarantined directories with where they came from and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := broker.ListQuarantine(qdir())
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing quarantined")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFROM\tAT\tSIZE\tREASON")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.From, e.At.Format(time.RFC3339), humanBytes(e.Bytes), e.Reason)
			}
			return tw.Flush()
		},
	}
	withLock := func(fn func() error) error {
		l, err := fileutil.LockDir(dataDir)
		if errors.Is(err, fileutil.ErrLocked) {
			return fmt.Errorf("a broker is running on %s: stop it first", dataDir)
		}
		if err != nil {
			return err
		}
		defer l.Unlock()
		return fn()
	}
	restore := &cobra.Command{
		Use:   "restore NAME",
		Short: "Move a quarantined directory back where it came from (refused if that exists)",
		Long: `Move a quarantined directory back to its partition directory. Refused while a
broker runs on the data directory, and when the partition directory exists
(the broker recreated the partition: move it away first, restoring over it
would mix two logs). The next start judges the directory against etcd again:
one of another topic id is quarantined again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLock(func() error {
				dst, err := broker.RestoreQuarantined(qdir(), filepath.Join(dataDir, "logs"), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restored %s to %s\n", args[0], dst)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a quarantined directory for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLock(func() error {
				if err := broker.DeleteQuarantined(qdir(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(list, restore, del)
	return cmd
}
