package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

// DescribeUserScramCredentials v0 (KIP-554) needs Describe on the
// cluster: the mechanisms and iteration counts of each user's SCRAM
// credentials, never salts or keys. No users named: every user.
func (cc *clientConn) handleDescribeUserScramCredentials(ctx context.Context, req *kmsg.DescribeUserSCRAMCredentialsRequest) (*kmsg.DescribeUserSCRAMCredentialsResponse, error) {
	ctx, cancel := cc.bounded(ctx, 0)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	err := cc.authCluster(kmsg.ACLOperationDescribe)
	if err == nil && cc.s.b.Scram == nil {
		err = fmt.Errorf("%w: no SCRAM credential store", kerr.UnsupportedSaslMechanism)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	var names []string
	count := map[string]int{}
	for _, u := range req.Users {
		if count[u.Name]++; count[u.Name] == 1 {
			names = append(names, u.Name)
		}
	}
	var query []string
	if len(names) > 0 {
		query = names
	}
	creds, err := cc.s.b.Scram.ScramUsers(ctx, query)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	if len(names) == 0 {
		for u := range creds {
			names = append(names, u)
		}
		sort.Strings(names)
	}
	for _, u := range names {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u
		switch cs, ok := creds[u]; {
		case count[u] > 1:
			e := fmt.Errorf("%w: user %q named more than once", kerr.DuplicateResource, u)
			r.ErrorCode, r.ErrorMessage = errorCode(e), errorMessage(e)
		case !ok || len(cs) == 0:
			e := fmt.Errorf("%w: no SCRAM credential for user %q", kerr.ResourceNotFound, u)
			r.ErrorCode, r.ErrorMessage = errorCode(e), errorMessage(e)
		default:
			for _, c := range cs {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = auth.ScramMechanismCode(c.Mechanism), int32(c.Iterations)
				r.CredentialInfos = append(r.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

// scramErr maps a credential store's error to the client's code.
func scramErr(err error) error {
	var ke *kerr.Error
	switch {
	case err == nil, errors.As(err, &ke):
		return err
	case errors.Is(err, ErrUnknownUser):
		return fmt.Errorf("%w: %v", kerr.ResourceNotFound, err)
	}
	return err
}
