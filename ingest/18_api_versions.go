package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (cc *clientConn) handleApiVersions(_ context.Context, req *kmsg.ApiVersionsRequest) (*kmsg.ApiVersionsResponse, error) {
	return apiVersionsResponse(req.Version, 0), nil
}

// apiVersionsResponse lists exactly the implemented APIs and versions.
func apiVersionsResponse(version, errCode int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	resp.ErrorCode = errCode
	for _, k := range supportedKeys() {
		a := apis[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp
}
