package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminFlags are the flags of every command that talks to a running
// cluster over the Kafka protocol.
type adminFlags struct {
	brokers []string
	timeout time.Duration
	sec     clientSecurity
}

func (a *adminFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringSliceVar(&a.brokers, "brokers", []string{"localhost:9092"}, "bootstrap brokers, comma separated")
	cmd.PersistentFlags().DurationVar(&a.timeout, "timeout", 15*time.Second, "how long to wait for the cluster")
	a.sec.register(cmd)
}

// withAdmin runs fn with an admin client for the cluster and a context
// bounded by --timeout, and closes the client afterwards.
func (a *adminFlags) withAdmin(fn func(ctx context.Context, adm *kadm.Client) error) error {
	return a.withClient(func(ctx context.Context, cl *kgo.Client) error { return fn(ctx, kadm.NewClient(cl)) })
}

// withClient is withAdmin with the plain client (raw requests).
func (a *adminFlags) withClient(fn func(ctx context.Context, cl *kgo.Client) error) error {
	opts, err := a.sec.opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(a.brokers...))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	return fn(ctx, cl)
}

func newTopicCmd() *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe and delete topics"}
	af.register(cmd)

	var partitions int32
	var rf int16
	var configs []string
	var ifNotExists bool
	create := &cobra.Command{
		Use:   "create TOPIC",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			cfgs := map[string]*string{}
			for _, kv := range configs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--config %q: want name=value", kv)
				}
				cfgs[k] = &v
			}
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				resp, err := adm.CreateTopic(ctx, partitions, rf, cfgs, args[0])
				if err == nil {
					err = resp.Err
				}
				if ifNotExists && errors.Is(err, kerr.TopicAlreadyExists) {
					fmt.Fprintf(out, "topic %s already exists\n", args[0])
					return nil
				}
				if err != nil {
					return fmt.Errorf("create topic %s: %w", args[0], err)
				}
				fmt.Fprintf(out, "created topic %s (%d partitions)\n", resp.Topic, resp.NumPartitions)
				return nil
			})
		},
	}
	create.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions (-1: broker default)")
	create.Flags().Int16VarP(&rf, "replication-factor", "r", -1, "replication factor (-1: broker default)")
	create.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config name=value (repeatable)")
	create.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "succeed when the topic already exists")

	list := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				topics, err := adm.ListTopics(ctx)
				if err != nil {
					return fmt.Errorf("list topics: %w", err)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICAS")
				for _, t := range topics.Sorted() {
					fmt.Fprintf(w, "%s\t%d\t%d\n", t.Topic, len(t.Partitions), t.Partitions.NumReplicas())
				}
				return w.Flush()
			})
		},
	}

	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show a topic's partitions, offsets and configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				topics, err := adm.ListTopics(ctx, args[0])
				if err != nil {
					return fmt.Errorf("describe topic %s: %w", args[0], err)
				}
				td := topics[args[0]]
				if td.Err != nil {
					return fmt.Errorf("describe topic %s: %w", args[0], td.Err)
				}
				starts, err := adm.ListStartOffsets(ctx, args[0])
				if err != nil {
					return fmt.Errorf("start offsets: %w", err)
				}
				ends, err := adm.ListEndOffsets(ctx, args[0])
				if err != nil {
					return fmt.Errorf("end offsets: %w", err)
				}
				fmt.Fprintf(out, "topic %s  id %s\n", td.Topic, td.ID)
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tSTART\tEND")
				for _, p := range td.Partitions.Sorted() {
					s, _ := starts.Lookup(args[0], p.Partition)
					e, _ := ends.Lookup(args[0], p.Partition)
					fmt.Fprintf(w, "%d\t%d\t%d\t%v\t%v\t%d\t%d\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, s.Offset, e.Offset)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				rcs, err := adm.DescribeTopicConfigs(ctx, args[0])
				if err != nil {
					return fmt.Errorf("configs: %w", err)
				}
				rc, err := rcs.On(args[0], nil)
				if err != nil {
					return fmt.Errorf("configs: %w", err)
				}
				sort.Slice(rc.Configs, func(i, j int) bool { return rc.Configs[i].Key < rc.Configs[j].Key })
				fmt.Fprintln(out, "configs:")
				for _, c := range rc.Configs {
					src := "default"
					if c.Source == 1 {
						src = "topic"
					}
					fmt.Fprintf(out, "  %s=%s (%s)\n", c.Key, c.MaybeValue(), src)
				}
				return nil
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, args...)
				if err != nil {
					return fmt.Errorf("delete topics: %w", err)
				}
				if err := resps.Error(); err != nil {
					return fmt.Errorf("delete topics: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", strings.Join(args, ", "))
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}
