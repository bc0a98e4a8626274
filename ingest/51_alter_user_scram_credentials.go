package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// AlterUserScramCredentials v0 (KIP-554) needs Alter on the cluster. An
// upsertion carries the salted password (the client salted it), from
// which the stored and server keys are derived here; a deletion names a
// user and mechanism. One result per user named; a user named twice
// (in either list) is DUPLICATE_RESOURCE and left unchanged.
func (cc *clientConn) handleAlterUserScramCredentials(ctx context.Context, req *kmsg.AlterUserSCRAMCredentialsRequest) (*kmsg.AlterUserSCRAMCredentialsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	err := cc.authCluster(kmsg.ACLOperationAlter)
	if err == nil && cc.s.b.Scram == nil {
		err = fmt.Errorf("%w: no SCRAM credential store", kerr.UnsupportedSaslMechanism)
	}
	type change struct {
		del  bool
		mech string
		cred auth.ScramCredential
		err  error
	}
	var users []string
	changes := map[string][]change{}
	dup := map[string]bool{}
	add := func(user string, c change) {
		if _, ok := changes[user]; !ok {
			users = append(users, user)
		}
		for _, o := range changes[user] {
			if o.mech == c.mech {
				dup[user] = true
			}
		}
		changes[user] = append(changes[user], c)
	}
	for _, d := range req.Deletions {
		c := change{del: true, mech: auth.ScramMechanismName(d.Mechanism)}
		if c.mech == "" {
			c.err = fmt.Errorf("%w: SCRAM mechanism %d", kerr.UnsupportedSaslMechanism, d.Mechanism)
		}
		add(d.Name, c)
	}
	for _, u := range req.Upsertions {
		c := change{mech: auth.ScramMechanismName(u.Mechanism)}
		if c.mech == "" {
			c.err = fmt.Errorf("%w: SCRAM mechanism %d", kerr.UnsupportedSaslMechanism, u.Mechanism)
		} else if c.cred, c.err = auth.ScramCredentialFromSalted(c.mech, u.Salt, u.SaltedPassword, int(u.Iterations)); c.err != nil {
			c.err = fmt.Errorf("%w: %v", kerr.UnacceptableCredential, c.err)
		}
		add(u.Name, c)
	}
	for _, user := range users {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		uerr := err
		if uerr == nil && user == "" {
			uerr = fmt.Errorf("%w: empty user name", kerr.UnacceptableCredential)
		}
		if uerr == nil && dup[user] {
			uerr = fmt.Errorf("%w: user %q changed twice for one mechanism", kerr.DuplicateResource, user)
		}
		for _, c := range changes[user] {
			if uerr == nil {
				uerr = c.err
			}
		}
		for _, c := range changes[user] {
			if uerr != nil {
				break
			}
			if c.del {
				uerr = scramErr(cc.s.b.Scram.DeleteScramCredential(ctx, user, c.mech))
			} else {
				uerr = scramErr(cc.s.b.Scram.PutScramCredential(ctx, user, c.cred))
			}
			if uerr == nil {
				what := "upsert"
				if c.del {
					what = "delete"
				}
				cc.log.Info("scram credential change", "audit", true, "change", what, "by", cc.principal, "user", user, "mechanism", c.mech)
			}
		}
		r.ErrorCode, r.ErrorMessage = errorCode(uerr), errorMessage(uerr)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
