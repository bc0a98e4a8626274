package ingest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessionFields: the session id and epoch of a Fetch decide, as
// in Kafka's FetchManager, whether it is a full request (served) or an
// incremental one against a session this broker never created
// (FETCH_SESSION_ID_NOT_FOUND). kafka-go sends id -1, epoch -1 on every
// Fetch of its Client: before, that was answered FETCH_SESSION_ID_NOT_FOUND
// with no topics, which kafka-go reports as "topic not found".
func TestFetchSessionFields(t *testing.T) {
	for _, tc := range []struct {
		name      string
		version   int16
		id, epoch int32
		want      int16
	}{
		{name: "franz-go asks for a session", version: 12, id: 0, epoch: 0},
		{name: "sessionless (librdkafka, kafka-go's Conn)", version: 12, id: 0, epoch: -1},
		{name: "kafka-go Client: id -1, epoch -1", version: 11, id: -1, epoch: -1},
		{name: "full request closing a session", version: 12, id: 5, epoch: -1},
		{name: "full request replacing a session", version: 12, id: 5, epoch: 0},
		{name: "incremental against an unknown session", version: 12, id: 5, epoch: 2, want: kerr.FetchSessionIDNotFound.Code},
		{name: "incremental without a session id", version: 12, id: 0, epoch: 2, want: kerr.FetchSessionIDNotFound.Code},
		{name: "a negative epoch other than FINAL", version: 12, id: 5, epoch: -2, want: kerr.FetchSessionIDNotFound.Code},
		{name: "v7, the first with sessions", version: 7, id: -1, epoch: -1},
		{name: "v16, the newest served (topic ids)", version: 16, id: -1, epoch: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.fetchBytes = func(maxBytes int, _ bool) int { return min(maxBytes, 10) }
			s := NewServer(Config{Logger: quiet}, f.backend(false))
			defer s.Close()
			req := fetch(tc.version, func(r *kmsg.FetchRequest) { r.SessionID, r.SessionEpoch = tc.id, tc.epoch }, 0)()
			raw, err := exchange(t, s, req)
			if err != nil {
				t.Fatal(err)
			}
			resp := raw.(*kmsg.FetchResponse)
			if resp.ErrorCode != tc.want {
				t.Fatalf("top-level error %v, want %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(tc.want))
			}
			if tc.want != 0 {
				if len(resp.Topics) != 0 {
					t.Fatalf("a session error carries %d topics, want none", len(resp.Topics))
				}
				return
			}
			if resp.SessionID != 0 {
				t.Fatalf("session id %d handed out; this broker keeps no sessions (0)", resp.SessionID)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 || fetchedBytes(resp) != 10 {
				t.Fatalf("full request not served: %+v", resp.Topics)
			}
		})
	}
}
