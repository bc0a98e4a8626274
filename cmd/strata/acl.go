package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// aclFlags name ACL bindings as kafka-acls.sh does: a resource (--topic,
// --group, --cluster, --transactional-id) with a pattern type, principals
// allowed or denied, from hosts, for operations.
type aclFlags struct {
	topic, group, txnID string
	cluster             bool
	pattern             string
	allow, deny         []string
	hosts               []string
	ops                 []string
}

func (a *aclFlags) register(cmd *cobra.Command, filter bool) {
	f := cmd.Flags()
	f.StringVar(&a.topic, "topic", "", "topic (or topic prefix with --resource-pattern-type prefixed; * for every topic)")
	f.StringVar(&a.group, "group", "", "consumer group")
	f.StringVar(&a.txnID, "transactional-id", "", "transactional id")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	f.StringSliceVar(&a.allow, "allow-principal", nil, "principal allowed, e.g. User:alice (repeatable)")
	f.StringSliceVar(&a.deny, "deny-principal", nil, "principal denied (repeatable)")
	if filter {
		f.StringVar(&a.pattern, "resource-pattern-type", "any", "literal, prefixed, any or match")
		f.StringSliceVar(&a.ops, "operation", nil, "operations (default any)")
		f.StringSliceVar(&a.hosts, "host", nil, "host (default any)")
	} else {
		f.StringVar(&a.pattern, "resource-pattern-type", "literal", "literal or prefixed")
		f.StringSliceVar(&a.ops, "operation", nil, "operations: read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs, idempotent-write, all (repeatable)")
		f.StringSliceVar(&a.hosts, "host", []string{"*"}, "hosts the principals connect from (* for any)")
	}
}

type aclResource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (a *aclFlags) resources(filter bool) ([]aclResource, error) {
	var rs []aclResource
	if a.topic != "" {
		rs = append(rs, aclResource{auth.Topic, a.topic})
	}
	if a.group != "" {
		rs = append(rs, aclResource{auth.Group, a.group})
	}
	if a.txnID != "" {
		rs = append(rs, aclResource{auth.TransactionalID, a.txnID})
	}
	if a.cluster {
		rs = append(rs, aclResource{auth.Cluster, auth.ClusterName})
	}
	if len(rs) == 0 && !filter {
		return nil, errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
	}
	return rs, nil
}

func (a *aclFlags) operations(filter bool) ([]kmsg.ACLOperation, error) {
	if len(a.ops) == 0 {
		if filter {
			return []kmsg.ACLOperation{kmsg.ACLOperationAny}, nil
		}
		return nil, errors.New("name an --operation")
	}
	var out []kmsg.ACLOperation
	for _, o := range a.ops {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil {
			return nil, fmt.Errorf("--operation %q: %w", o, err)
		}
		out = append(out, op)
	}
	return out, nil
}

func (a *aclFlags) patternType() (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil {
		return 0, fmt.Errorf("--resource-pattern-type %q: %w", a.pattern, err)
	}
	return p, nil
}

func newACLCmd() *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove ACLs (the brokers' --authorizer acl)",
		Long: `ACLs through the Kafka API (CreateAcls, DescribeAcls, DeleteAcls): the
caller needs Alter (add, remove) or Describe (list) on the cluster, or to be a
super user (strata serve --super-users).`,
	}
	af.register(cmd)

	var add aclFlags
	addCmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs: each principal, host and operation on each resource",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := add.resources(false)
			if err != nil {
				return err
			}
			ops, err := add.operations(false)
			if err != nil {
				return err
			}
			pattern, err := add.patternType()
			if err != nil {
				return err
			}
			if len(add.allow)+len(add.deny) == 0 {
				return errors.New("name an --allow-principal or --deny-principal")
			}
			req := kmsg.NewPtrCreateACLsRequest()
			for _, r := range rs {
				for perm, ps := range map[kmsg.ACLPermissionType][]string{kmsg.ACLPermissionTypeAllow: add.allow, kmsg.ACLPermissionTypeDeny: add.deny} {
					for _, p := range ps {
						for _, h := range add.hosts {
							for _, op := range ops {
								c := kmsg.NewCreateACLsRequestCreation()
								c.ResourceType, c.ResourceName, c.ResourcePatternType = r.typ, r.name, pattern
								c.Principal, c.Host, c.Operation, c.PermissionType = p, h, op, perm
								req.Creations = append(req.Creations, c)
							}
						}
					}
				}
			}
			return af.withClient(func(ctx context.Context, cl *kgo.Client) error {
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return err
				}
				for i, r := range resp.Results {
					if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
						c := req.Creations[i]
						return fmt.Errorf("ACL %s %s %s on %s %s: %w (%s)", c.PermissionType, c.Principal, c.Operation, c.ResourceType, c.ResourceName, err, deref(r.ErrorMessage))
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d ACLs added\n", len(req.Creations))
				return nil
			})
		},
	}
	add.register(addCmd, false)

	filters := func(a *aclFlags) ([]kmsg.DeleteACLsRequestFilter, error) {
		rs, err := a.resources(true)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 {
			rs = []aclResource{{typ: kmsg.ACLResourceTypeAny}}
		}
		ops, err := a.operations(true)
		if err != nil {
			return nil, err
		}
		pattern, err := a.patternType()
		if err != nil {
			return nil, err
		}
		type who struct {
			p    *string
			perm kmsg.ACLPermissionType
		}
		var whos []who
		for _, p := range a.allow {
			whos = append(whos, who{&p, kmsg.ACLPermissionTypeAllow})
		}
		for _, p := range a.deny {
			whos = append(whos, who{&p, kmsg.ACLPermissionTypeDeny})
		}
		if len(whos) == 0 {
			whos = []who{{nil, kmsg.ACLPermissionTypeAny}}
		}
		hosts := []*string{nil}
		if len(a.hosts) > 0 {
			hosts = hosts[:0]
			for _, h := range a.hosts {
				hosts = append(hosts, &h)
			}
		}
		var out []kmsg.DeleteACLsRequestFilter
		for _, r := range rs {
			for _, w := range whos {
				for _, h := range hosts {
					for _, op := range ops {
						f := kmsg.NewDeleteACLsRequestFilter()
						f.ResourceType, f.ResourcePatternType = r.typ, pattern
						if r.name != "" {
							f.ResourceName = kmsg.StringPtr(r.name)
						}
						f.Principal, f.Host, f.Operation, f.PermissionType = w.p, h, op, w.perm
						out = append(out, f)
					}
				}
			}
		}
		return out, nil
	}

	var list aclFlags
	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List ACLs (every one, or those the flags select)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs, err := filters(&list)
			if err != nil {
				return err
			}
			return af.withClient(func(ctx context.Context, cl *kgo.Client) error {
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "RESOURCE\tPATTERN\tNAME\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
				seen := map[string]bool{}
				for _, f := range fs {
					req := kmsg.NewPtrDescribeACLsRequest()
					req.ResourceType, req.ResourceName, req.ResourcePatternType = f.ResourceType, f.ResourceName, f.ResourcePatternType
					req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, f.Operation, f.PermissionType
					resp, err := req.RequestWith(ctx, cl)
					if err != nil {
						return err
					}
					if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
						return fmt.Errorf("DescribeAcls: %w (%s)", err, deref(resp.ErrorMessage))
					}
					for _, r := range resp.Resources {
						for _, a := range r.ACLs {
							row := strings.Join([]string{r.ResourceType.String(), r.ResourcePatternType.String(), r.ResourceName,
								a.Principal, a.Host, a.Operation.String(), a.PermissionType.String()}, "\t")
							if !seen[row] {
								seen[row] = true
								fmt.Fprintln(w, row)
							}
						}
					}
				}
				return w.Flush()
			})
		},
	}
	list.register(listCmd, true)

	var rm aclFlags
	rmCmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the ACLs the flags select (pattern type any unless told)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs, err := filters(&rm)
			if err != nil {
				return err
			}
			if rm.topic == "" && rm.group == "" && rm.txnID == "" && !rm.cluster && len(rm.allow)+len(rm.deny) == 0 {
				return errors.New("name a resource or a principal: remove deletes every ACL its filter selects")
			}
			return af.withClient(func(ctx context.Context, cl *kgo.Client) error {
				req := kmsg.NewPtrDeleteACLsRequest()
				req.Filters = fs
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return err
				}
				n := 0
				for _, r := range resp.Results {
					if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
						return fmt.Errorf("DeleteAcls: %w (%s)", err, deref(r.ErrorMessage))
					}
					n += len(r.MatchingACLs)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d ACLs removed\n", n)
				return nil
			})
		},
	}
	rm.register(rmCmd, true)
	cmd.AddCommand(addCmd, listCmd, rmCmd)
	return cmd
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
