package group

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ListGroups lists the groups this broker coordinates (as Kafka, each
// broker lists its own; admin clients ask every broker). states and types
// filter case-insensitively when not empty.
func (c *Coordinator) ListGroups(ctx context.Context, states, types []string) ([]Listing, error) {
	if err := c.loadAll(ctx, false); err != nil {
		return nil, err
	}
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	var out []Listing
	for _, g := range c.snapshotGroups() {
		select {
		case <-g.loaded:
		default:
			continue
		}
		g.mu.Lock()
		if !g.removed && !g.virgin() && c.owns(g.name) {
			l := Listing{Group: g.name, ProtocolType: g.protocolType, State: g.state.String(), Type: GroupType}
			if g.cg != nil {
				l.State, l.Type = g.cg.state(), ConsumerGroupType
			}
			if match(states, l.State) && match(types, l.Type) {
				out = append(out, l)
			}
		}
		g.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// DescribeGroup describes one group. One that does not exist is Dead with
// no members (no error), as in Kafka.
func (c *Coordinator) DescribeGroup(ctx context.Context, groupID string) (Description, error) {
	if groupID == "" {
		return Description{}, errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return Description{Group: groupID}, err
	}
	if g == nil {
		return Description{Group: groupID, State: Dead.String()}, nil
	}
	defer g.mu.Unlock()
	if g.cg != nil {
		return g.cg.describeClassic(groupID), nil
	}
	d := Description{Group: groupID, State: g.state.String(), ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		d.Protocol = g.protocol
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata = m.metadata(g.protocol)
			md.Assignment = m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// DeleteGroup deletes an empty group with its committed offsets:
// GROUP_ID_NOT_FOUND if it does not exist, NON_EMPTY_GROUP if it has
// members.
func (c *Coordinator) DeleteGroup(ctx context.Context, groupID string) error {
	if groupID == "" {
		return errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return err
	}
	if g == nil {
		return fmt.Errorf("%w: group %q", kerr.GroupIDNotFound, groupID)
	}
	switch g.state {
	case Dead:
		g.mu.Unlock()
		return fmt.Errorf("%w: group %q", kerr.GroupIDNotFound, groupID)
	case Empty:
		if len(g.pending) == 0 {
			break
		}
		fallthrough
	default:
		state := g.state
		g.mu.Unlock()
		return fmt.Errorf("%w: group %q is %s with members", kerr.NonEmptyGroup, groupID, state)
	}
	c.retire(g)
	g.mu.Unlock()
	if err := c.deleteRetired(ctx, g); err != nil {
		return err
	}
	c.log.Info("group deleted", "group", groupID)
	return nil
}

// DescribeConsumerGroup describes a KIP-848 consumer group
// (ConsumerGroupDescribe): GROUP_ID_NOT_FOUND for a group that does not
// exist or is a classic one.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, groupID string) (ConsumerDescription, error) {
	if groupID == "" {
		return ConsumerDescription{}, errInvalidGroupID()
	}
	g, err := c.lockGroup(ctx, groupID, false)
	if err != nil {
		return ConsumerDescription{Group: groupID}, err
	}
	if g == nil {
		return ConsumerDescription{Group: groupID}, fmt.Errorf("%w: group %q does not exist", kerr.GroupIDNotFound, groupID)
	}
	defer g.mu.Unlock()
	if g.cg == nil {
		return ConsumerDescription{Group: groupID}, fmt.Errorf("%w: group %q is not a consumer group", kerr.GroupIDNotFound, groupID)
	}
	return g.cg.describe(groupID), nil
}
