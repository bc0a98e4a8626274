package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/auth"
	"github.com/stratalog/strata/broker"
	"github.com/stratalog/strata/meta"
)

// userFlags say where users are kept: straight in etcd (--etcd-endpoints,
// which works before any broker runs, to bootstrap the first admin as
// Kafka's storage tool does) or through a broker's
// AlterUserScramCredentials and DescribeUserScramCredentials
// (--brokers).
type userFlags struct {
	admin   adminFlags
	etcd    etcdFlags
	cluster string
}

func (u *userFlags) register(cmd *cobra.Command) {
	u.admin.register(cmd)
	u.etcd.register(cmd)
	cmd.PersistentFlags().StringVar(&u.cluster, "cluster", meta.DefaultCluster, "cluster name (with --etcd-endpoints): the etcd key prefix /strata/<cluster>/")
}

// direct reports whether to go straight to etcd.
func (u *userFlags) direct() bool { return len(u.etcd.endpoints) > 0 }

func (u *userFlags) withMeta(fn func(ctx context.Context, m *meta.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.admin.timeout)
	defer cancel()
	m, err := u.etcd.dial(ctx, u.cluster)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(ctx, m)
}

func scramMechanism(name string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(name) {
	case auth.ScramSHA256:
		return kadm.ScramSha256, nil
	case auth.ScramSHA512:
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("--mechanism %q: want %s or %s", name, auth.ScramSHA256, auth.ScramSHA512)
}

func newUserCmd() *cobra.Command {
	var uf userFlags
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Set, list and delete SCRAM users",
		Long: `SCRAM users (SCRAM-SHA-256, SCRAM-SHA-512), kept salted in etcd. With
--etcd-endpoints the credential is written straight to etcd (before any broker
runs: bootstrap the first admin this way); otherwise through --brokers with
AlterUserScramCredentials (which needs Alter on the cluster).`,
	}
	uf.register(cmd)

	var mechanism, password string
	var iterations int
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Create or change a user's SCRAM credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			mech, err := scramMechanism(mechanism)
			if err != nil {
				return err
			}
			switch {
			case password == "":
				return errors.New("--password is required")
			case strings.HasPrefix(user, broker.InterBrokerUserPrefix):
				return fmt.Errorf("user %q: names starting with %q are the brokers' own", user, broker.InterBrokerUserPrefix)
			}
			if uf.direct() {
				cred, err := auth.NewScramCredential(mech.String(), user, password, iterations)
				if err != nil {
					return err
				}
				if err := uf.withMeta(func(ctx context.Context, m *meta.Client) error {
					return m.PutScramCredential(ctx, user, cred)
				}); err != nil {
					return err
				}
			} else if err := uf.admin.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: int32(iterations), Password: password}})
				if err != nil {
					return err
				}
				return res[user].Err
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential set\n", user, mech)
			return nil
		},
	}
	set.Flags().StringVar(&mechanism, "mechanism", auth.ScramSHA512, "SCRAM-SHA-256 or SCRAM-SHA-512")
	set.Flags().StringVar(&password, "password", "", "the user's password (salted before it is stored)")
	set.Flags().IntVar(&iterations, "iterations", auth.ScramDefaultIterations, "SCRAM iterations (4096 to 16384)")

	var delMechanism string
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			mech, err := scramMechanism(delMechanism)
			if err != nil {
				return err
			}
			if uf.direct() {
				err = uf.withMeta(func(ctx context.Context, m *meta.Client) error {
					return m.DeleteScramCredential(ctx, user, mech.String())
				})
			} else {
				err = uf.admin.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
					res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: mech}}, nil)
					if err != nil {
						return err
					}
					return res[user].Err
				})
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential deleted\n", user, mech)
			return nil
		},
	}
	del.Flags().StringVar(&delMechanism, "mechanism", auth.ScramSHA512, "SCRAM-SHA-256 or SCRAM-SHA-512")

	list := &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List users and their SCRAM mechanisms (never salts or keys)",
		RunE: func(cmd *cobra.Command, args []string) error {
			rows := map[string][]string{}
			if uf.direct() {
				if err := uf.withMeta(func(ctx context.Context, m *meta.Client) error {
					var users []string
					if len(args) > 0 {
						users = args
					}
					creds, err := m.ScramCredentials(ctx, users)
					for u, cs := range creds {
						for _, c := range cs {
							rows[u] = append(rows[u], fmt.Sprintf("%s(%d)", c.Mechanism, c.Iterations))
						}
					}
					return err
				}); err != nil {
					return err
				}
			} else if err := uf.admin.withAdmin(func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeUserSCRAMs(ctx, args...)
				if err != nil {
					return err
				}
				for u, d := range res {
					if d.Err != nil {
						return fmt.Errorf("user %s: %w", u, d.Err)
					}
					for _, ci := range d.CredInfos {
						rows[u] = append(rows[u], fmt.Sprintf("%s(%d)", ci.Mechanism, ci.Iterations))
					}
				}
				return nil
			}); err != nil {
				return err
			}
			names := make([]string, 0, len(rows))
			for u := range rows {
				names = append(names, u)
			}
			sort.Strings(names)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "USER\tMECHANISMS")
			for _, u := range names {
				sort.Strings(rows[u])
				fmt.Fprintf(w, "%s\t%s\n", u, strings.Join(rows[u], ","))
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(set, del, list)
	return cmd
}
