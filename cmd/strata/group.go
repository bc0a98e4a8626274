package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newGroupCmd() *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{Use: "group", Short: "List, describe and reset consumer groups"}
	af.register(cmd)
	cmd.AddCommand(newGroupListCmd(&af), newGroupDescribeCmd(&af), newGroupResetCmd(&af))
	return cmd
}

func newGroupListCmd(af *adminFlags) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				groups, err := adm.ListGroups(ctx, states...)
				if err != nil {
					return fmt.Errorf("list groups: %w", err)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL TYPE\tCOORDINATOR")
				for _, g := range groups.Sorted() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", g.Group, g.State, groupDash(g.ProtocolType), g.Coordinator)
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Empty, Stable, PreparingRebalance, CompletingRebalance)")
	return cmd
}

func groupDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDescribeCmd(af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members and assignments, and per partition its committed offset, end offset and lag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			out := cmd.OutOrStdout()
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				lags, err := adm.Lag(ctx, name)
				if err != nil {
					return fmt.Errorf("describe group %s: %w", name, err)
				}
				l, ok := lags[name]
				if !ok {
					return fmt.Errorf("describe group %s: no answer for the group", name)
				}
				if err := l.Error(); err != nil {
					return fmt.Errorf("describe group %s: %w", name, err)
				}
				if l.State == "Dead" && len(l.Lag) == 0 {
					return fmt.Errorf("group %s does not exist", name)
				}
				proto := groupDash(l.ProtocolType)
				if l.Protocol != "" {
					proto += "/" + l.Protocol
				}
				fmt.Fprintf(out, "group %s  state %s  protocol %s  members %d  coordinator %d\n",
					name, l.State, proto, len(l.Members), l.Coordinator.NodeID)

				if cg, ok := groupDescribeConsumer(ctx, adm, name); ok {
					// The KIP-848 consumer protocol: epochs and target assignments.
					if err := groupPrintConsumer(out, cg); err != nil {
						return err
					}
				} else if len(l.Members) > 0 {
					w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "MEMBER\tINSTANCE\tCLIENT\tHOST\tASSIGNMENT")
					for _, m := range l.Members {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, groupInstance(m.InstanceID), m.ClientID, m.ClientHost, groupMemberAssignment(m))
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}

				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
				var total int64
				for _, ml := range l.Lag.Sorted() {
					committed, end, lag := "-", "-", "-"
					if ml.Commit.At >= 0 {
						committed = strconv.FormatInt(ml.Commit.At, 10)
					}
					if ml.End.Err == nil {
						end = strconv.FormatInt(ml.End.Offset, 10)
					}
					if ml.Err == nil && ml.Lag >= 0 {
						lag = strconv.FormatInt(ml.Lag, 10)
						total += ml.Lag
					} else if ml.Err != nil {
						lag = "error: " + ml.Err.Error()
					}
					owner := "-"
					if ml.Member != nil {
						owner = ml.Member.MemberID
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, committed, end, lag, owner)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "total lag %d\n", total)
				return nil
			})
		},
	}
}

// groupDescribeConsumer describes name with ConsumerGroupDescribe; false
// for a classic group (or a broker without KIP-848).
func groupDescribeConsumer(ctx context.Context, adm *kadm.Client, name string) (kadm.DescribedConsumerGroup, bool) {
	described, err := adm.DescribeConsumerGroups(ctx, name)
	if err != nil {
		return kadm.DescribedConsumerGroup{}, false
	}
	cg, ok := described[name]
	return cg, ok && cg.Err == nil
}

// groupPrintConsumer prints the members of a KIP-848 consumer group with
// their member epochs, assignment and target assignment.
func groupPrintConsumer(out io.Writer, cg kadm.DescribedConsumerGroup) error {
	fmt.Fprintf(out, "consumer protocol (KIP-848)  group epoch %d  assignment epoch %d  assignor %s\n", cg.Epoch, cg.AssignmentEpoch, cg.AssignorName)
	if len(cg.Members) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tINSTANCE\tEPOCH\tCLIENT\tHOST\tASSIGNMENT\tTARGET")
	for _, m := range cg.Members {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.MemberID, groupInstance(m.InstanceID), m.MemberEpoch, m.ClientID, m.ClientHost,
			groupTopicsSet(m.Assignment), groupTopicsSet(m.TargetAssignment))
	}
	return w.Flush()
}

// groupInstance is a member's instance id, "-" for a dynamic member.
func groupInstance(id *string) string {
	if id == nil {
		return "-"
	}
	return *id
}

// groupTopicsSet renders partitions as "topic[0 1 2]".
func groupTopicsSet(s kadm.TopicsSet) string {
	var parts []string
	for _, t := range s.Sorted() {
		parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// groupMemberAssignment renders a consumer's assignment as "topic[0 1 2]".
func groupMemberAssignment(m kadm.DescribedGroupMember) string {
	ca, ok := m.Assigned.AsConsumer()
	if !ok {
		if raw, ok := m.Assigned.Raw(); ok {
			return fmt.Sprintf("%d bytes (not a consumer assignment)", len(raw))
		}
		return "-"
	}
	var parts []string
	for _, t := range ca.Topics {
		ps := append([]int32(nil), t.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		parts = append(parts, fmt.Sprintf("%s%v", t.Topic, ps))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// groupResetTarget is where reset-offsets moves a group.
type groupResetTarget struct {
	earliest, latest bool
	offset           int64 // -1: not given
	datetime         string
}

func newGroupResetCmd(af *adminFlags) *cobra.Command {
	var (
		topic  string
		target = groupResetTarget{offset: -1}
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME)",
		Short: "Move an empty group's committed offsets of a topic",
		Long: `Move the committed offsets of GROUP for every partition of TOPIC. The group must
have no members (stop its consumers first). --to-offset is clamped to each
partition's [start, end]; --to-datetime takes RFC 3339 ("2024-05-01T12:00:00Z"),
"2024-05-01T12:00:00" or "2024-05-01" (local time), or Unix milliseconds, and
moves to the first record at or after that time (the end if none).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			n := 0
			for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime"} {
				if cmd.Flags().Changed(f) {
					n++
				}
			}
			if n != 1 {
				return errors.New("reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")
			}
			if topic == "" {
				return errors.New("reset-offsets: --topic is required")
			}
			var at int64
			if target.datetime != "" {
				t, err := groupParseResetTime(target.datetime)
				if err != nil {
					return err
				}
				at = t.UnixMilli()
			}
			if cmd.Flags().Changed("to-offset") && target.offset < 0 {
				return fmt.Errorf("reset-offsets: --to-offset %d: want an offset >= 0", target.offset)
			}
			return af.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				return groupResetOffsets(ctx, cmd.OutOrStdout(), adm, name, topic, target, at, dryRun)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the topic whose offsets to move (required)")
	f.BoolVar(&target.earliest, "to-earliest", false, "to the start of each partition")
	f.BoolVar(&target.latest, "to-latest", false, "to the end of each partition")
	f.Int64Var(&target.offset, "to-offset", -1, "to this offset in every partition")
	f.StringVar(&target.datetime, "to-datetime", "", "to the first record at or after this time")
	f.BoolVar(&dryRun, "dry-run", false, "show the new offsets without committing them")
	return cmd
}

func groupParseResetTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("reset-offsets: --to-datetime %q: want RFC 3339 (2024-05-01T12:00:00Z), 2024-05-01T12:00:00, 2024-05-01 or Unix milliseconds", s)
}

func groupResetOffsets(ctx context.Context, out io.Writer, adm *kadm.Client, group, topic string, target groupResetTarget, at int64, dryRun bool) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("reset-offsets: describe group %s: %w", group, err)
	}
	d := described[group]
	if d.Err != nil {
		return fmt.Errorf("reset-offsets: describe group %s: %w", group, d.Err)
	}
	if d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("reset-offsets: group %s is %s with %d members; stop its consumers first (offsets can only be reset for an empty group)", group, d.State, len(d.Members))
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("reset-offsets: start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("reset-offsets: end offsets of %s: %w", topic, err)
	}
	var after kadm.ListedOffsets
	if target.datetime != "" {
		if after, err = adm.ListOffsetsAfterMilli(ctx, at, topic); err == nil {
			err = after.Error()
		}
		if err != nil {
			return fmt.Errorf("reset-offsets: offsets of %s at %s: %w", topic, target.datetime, err)
		}
	}
	if len(ends[topic]) == 0 {
		return fmt.Errorf("reset-offsets: topic %s has no partitions (does it exist?)", topic)
	}
	offsets := kadm.Offsets{}
	parts := make([]int32, 0, len(ends[topic]))
	for p := range ends[topic] {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		start, end := starts[topic][p].Offset, ends[topic][p].Offset
		var o int64
		switch {
		case target.earliest:
			o = start
		case target.latest:
			o = end
		case target.datetime != "":
			o = end
			if lo, ok := after.Lookup(topic, p); ok && lo.Offset >= 0 {
				o = lo.Offset
			}
		default:
			o = min(max(target.offset, start), end)
		}
		offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	if !dryRun {
		resps, err := adm.CommitOffsets(ctx, group, offsets)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return fmt.Errorf("reset-offsets: commit for group %s: %w", group, err)
		}
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tNEW OFFSET")
	for _, p := range parts {
		o, _ := offsets.Lookup(topic, p)
		fmt.Fprintf(w, "%s\t%d\t%d\n", topic, p, o.At)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing committed")
	}
	return nil
}
