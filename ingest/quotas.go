package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/quota"
)

// QuotaEnforcer measures a connection's traffic against the client quotas
// and says how long it is throttled (package quota's Manager).
type QuotaEnforcer interface {
	Any(key string) bool
	Record(key, user, client string, v float64, now time.Time) time.Duration
	Unrecord(key, user, client string, v float64, now time.Time)
	Mutations(user, client string, n int, now time.Time) (time.Duration, bool)
}

// QuotaAdmin stores the client quotas (DescribeClientQuotas,
// AlterClientQuotas).
type QuotaAdmin interface {
	ClientQuotas(ctx context.Context) (map[string]quota.Values, error)
	AlterClientQuota(ctx context.Context, e quota.Entity, ops []quota.Op, validateOnly bool) (quota.Values, error)
}

// throttleExempt are the requests no quota delays: the handshake ones, as
// in Kafka.
var throttleExempt = map[int16]bool{17: true, 18: true, 36: true}

// quotaUser is the user a quota names: the principal's name.
func (cc *clientConn) quotaUser() string {
	return strings.TrimPrefix(cc.principal, "User:")
}

// applyQuotas measures one answered request against the produce, fetch
// and request quotas, as Kafka does: produce counts the request's bytes,
// fetch the response's records (a throttled fetch answers with no data
// and takes its bytes back), every request its handler time. It sets the
// response's throttle time and mutes the connection for as long: the next
// request is not read before then (KIP-219). Brokers' own requests
// (replica fetches, markers) are not throttled.
func (cc *clientConn) applyQuotas(key int16, req kmsg.Request, resp kmsg.Response, frameBytes int, handled time.Duration) kmsg.Response {
	q := cc.s.b.Quotas
	if q == nil || resp == nil || throttleExempt[key] || cc.principal != "" && cc.s.b.Authorizer != nil && cc.s.b.Authorizer.AuthorizeBroker(cc.principal) {
		return resp
	}
	now := time.Now()
	user := cc.quotaUser()
	var throttle time.Duration
	if q.Any(quota.RequestPercentage) {
		throttle = q.Record(quota.RequestPercentage, user, cc.clientID, handled.Seconds()*100, now)
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		if q.Any(quota.ProducerByteRate) {
			throttle = max(throttle, q.Record(quota.ProducerByteRate, user, cc.clientID, float64(frameBytes), now))
		}
	case *kmsg.FetchResponse:
		if fr, ok := req.(*kmsg.FetchRequest); ok && fetchReplicaID(fr) >= 0 {
			break
		}
		if q.Any(quota.ConsumerByteRate) {
			n := float64(fetchResponseBytes(r))
			t := q.Record(quota.ConsumerByteRate, user, cc.clientID, n, now)
			if max(t, throttle) > 0 && n > 0 {
				q.Unrecord(quota.ConsumerByteRate, user, cc.clientID, n, now)
				resp = throttledFetch(r)
			}
			throttle = max(throttle, t)
		}
	}
	cc.throttle(resp, throttle, now)
	return resp
}

// throttle sets resp's throttle time (if its version has one) and mutes
// the connection until then.
func (cc *clientConn) throttle(resp kmsg.Response, t time.Duration, now time.Time) {
	if t <= 0 {
		return
	}
	if tr, ok := resp.(interface{ SetThrottle(int32) }); ok {
		tr.SetThrottle(max(quota.Millis(t), throttleOf(resp)))
	}
	if until := now.Add(t); until.After(cc.mutedUntil) {
		cc.mutedUntil = until
	}
}

func throttleOf(resp kmsg.Response) int32 {
	if tr, ok := resp.(interface{ Throttle() (int32, bool) }); ok {
		ms, _ := tr.Throttle()
		return ms
	}
	return 0
}

// waitMuted holds a throttled connection: nothing more is read from it
// until its throttle time has passed.
func (cc *clientConn) waitMuted(ctx context.Context) error {
	d := time.Until(cc.mutedUntil)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fetchResponseBytes(r *kmsg.FetchResponse) int {
	n := 0
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
	}
	return n
}

// throttledFetch is what a throttled consumer gets: no partitions, the
// session kept (Kafka's FetchContext.getThrottledResponse).
func throttledFetch(r *kmsg.FetchResponse) *kmsg.FetchResponse {
	out := kmsg.NewPtrFetchResponse()
	out.Version, out.ErrorCode, out.SessionID = r.Version, r.ErrorCode, r.SessionID
	return out
}

// spendMutations charges n partition mutations (topics created or
// deleted, partitions added) to the controller mutation quota. From the
// versions that know THROTTLING_QUOTA_EXCEEDED (KIP-599) a client in debt
// is refused; older ones are accepted and only throttled.
func (cc *clientConn) spendMutations(resp kmsg.Response, strict bool, n int) error {
	q := cc.s.b.Quotas
	if q == nil || n <= 0 || !q.Any(quota.ControllerMutationRate) {
		return nil
	}
	now := time.Now()
	t, ok := q.Mutations(cc.quotaUser(), cc.clientID, n, now)
	if !ok && strict {
		cc.throttle(resp, t, now)
		return fmt.Errorf("%w: the controller mutation quota is exceeded; retry in %s", kerr.ThrottlingQuotaExceeded, t.Round(time.Millisecond))
	}
	if !ok { // permissive for old versions: accept, then throttle
		t, _ = q.Mutations(cc.quotaUser(), cc.clientID, 0, now)
	}
	cc.throttle(resp, t, now)
	return nil
}

func (cc *clientConn) handleDescribeClientQuotas(ctx context.Context, req *kmsg.DescribeClientQuotasRequest) (*kmsg.DescribeClientQuotasResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(err error) (*kmsg.DescribeClientQuotasResponse, error) {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	if err := cc.authCluster(kmsg.ACLOperationDescribeConfigs); err != nil {
		return fail(err)
	}
	if cc.s.b.QuotaAdmin == nil {
		return fail(fmt.Errorf("%w: client quotas are not stored on this broker", kerr.UnsupportedVersion))
	}
	seen := map[string]bool{}
	for _, c := range req.Components {
		if c.EntityType != quota.TypeUser && c.EntityType != quota.TypeClientID {
			return fail(fmt.Errorf("%w: unknown entity type %q", kerr.InvalidRequest, c.EntityType))
		}
		if seen[c.EntityType] {
			return fail(fmt.Errorf("%w: entity type %q named twice", kerr.InvalidRequest, c.EntityType))
		}
		seen[c.EntityType] = true
		if c.MatchType == kmsg.QuotasMatchTypeExact && c.Match == nil {
			return fail(fmt.Errorf("%w: an exact match needs a name", kerr.InvalidRequest))
		}
		if c.MatchType > kmsg.QuotasMatchTypeAny || c.MatchType < 0 {
			return fail(fmt.Errorf("%w: match type %d", kerr.InvalidRequest, c.MatchType))
		}
	}
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	all, err := cc.s.b.QuotaAdmin.ClientQuotas(ctx)
	if err != nil {
		return fail(err)
	}
	for key, vals := range all {
		e, err := quota.ParseKey(key)
		if err != nil || !quotaMatches(e, req.Components, req.Strict) {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range e {
			re := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			re.Type = c.Type
			if !c.Default {
				name := c.Name
				re.Name = &name
			}
			entry.Entity = append(entry.Entity, re)
		}
		for _, k := range quota.Keys {
			if v, ok := vals[k]; ok {
				rv := kmsg.NewDescribeClientQuotasResponseEntryValue()
				rv.Key, rv.Value = k, v
				entry.Values = append(entry.Values, rv)
			}
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
}

// quotaMatches is DescribeClientQuotas's filter: every component matches
// the entity's part of its type (exact name, the default, or any name
// or the default), and with strict the entity has
// no other parts.
func quotaMatches(e quota.Entity, filter []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	if strict && len(e) != len(filter) {
		return false
	}
	for _, f := range filter {
		var got *quota.Component
		for i := range e {
			if e[i].Type == f.EntityType {
				got = &e[i]
			}
		}
		if got == nil {
			return false
		}
		switch f.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if got.Default || f.Match == nil || got.Name != *f.Match {
				return false
			}
		case kmsg.QuotasMatchTypeDefault:
			if !got.Default {
				return false
			}
		}
	}
	return true
}

func (cc *clientConn) handleAlterClientQuotas(ctx context.Context, req *kmsg.AlterClientQuotasRequest) (*kmsg.AlterClientQuotasResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	authErr := cc.authCluster(kmsg.ACLOperationAlterConfigs)
	if authErr == nil && cc.s.b.QuotaAdmin == nil {
		authErr = fmt.Errorf("%w: client quotas are not stored on this broker", kerr.UnsupportedVersion)
	}
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	for _, re := range req.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		var e quota.Entity
		for _, c := range re.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = c.Type, c.Name
			out.Entity = append(out.Entity, oe)
			comp := quota.Component{Type: c.Type, Default: c.Name == nil}
			if c.Name != nil {
				comp.Name = *c.Name
			}
			e = append(e, comp)
		}
		err := authErr
		if err == nil {
			ops := make([]quota.Op, 0, len(re.Ops))
			for _, op := range re.Ops {
				ops = append(ops, quota.Op{Key: op.Key, Value: op.Value, Remove: op.Remove})
			}
			_, err = cc.s.b.QuotaAdmin.AlterClientQuota(ctx, e, ops, req.ValidateOnly)
			if errors.Is(err, quota.ErrInvalid) {
				err = fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
			}
		}
		if err == nil && !req.ValidateOnly {
			cc.s.log.Info("client quota altered", "entity", e.Key(), "principal", cc.principal)
		}
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Entries = append(resp.Entries, out)
	}
	return resp, nil
}
