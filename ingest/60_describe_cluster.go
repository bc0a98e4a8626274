package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/auth"
)

func (cc *clientConn) handleDescribeCluster(_ context.Context, req *kmsg.DescribeClusterRequest) (*kmsg.DescribeClusterResponse, error) {
	c := cc.s.b.Cluster
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		err := fmt.Errorf("%w: only broker endpoints (type 1) are served", kerr.UnsupportedEndpointType)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	if err := cc.authCluster(kmsg.ACLOperationDescribe); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	resp.ClusterID = c.ClusterID()
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = cc.authorizedOps(auth.Cluster, auth.ClusterName)
	}
	listed := map[int32]bool{}
	for _, b := range c.Brokers() {
		host, port, ok := cc.endpoint(b)
		if !ok {
			continue
		}
		listed[b.ID] = true
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, host, port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ControllerID = cc.clientControllerID(listed)
	return resp, nil
}
