package ingest

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetadataTopicListByVersion: what the topic list of a Metadata
// request means at each version, as Kafka reads it. v0: an empty list is
// every topic (there is no null); v1+: null is every topic and an empty
// list none (kafka-go's Conn.Controller and Brokers send an empty list).
// v0-v3 always ask for auto-creation, v4+ only with
// AllowAutoTopicCreation; a topic the request creates is answered
// LEADER_NOT_AVAILABLE without partitions, as Kafka answers it, and
// listed by the next Metadata.
func TestMetadataTopicListByVersion(t *testing.T) {
	for v := int16(0); v <= apis[3].max; v++ {
		for _, allow := range []bool{false, true} {
			if v < 4 && !allow {
				continue // no such field: always allowed
			}
			t.Run(fmt.Sprintf("v%d allow %v", v, allow), func(t *testing.T) {
				f := newFake()
				f.autoCreate = true
				s := NewServer(Config{Logger: quiet}, f.backend(false))
				defer s.Close()
				ask := func(topics []kmsg.MetadataRequestTopic) *kmsg.MetadataResponse {
					t.Helper()
					req := kmsg.NewPtrMetadataRequest()
					req.Version, req.Topics, req.AllowAutoTopicCreation = v, topics, allow
					resp, err := exchange(t, s, req)
					if err != nil {
						t.Fatal(err)
					}
					return resp.(*kmsg.MetadataResponse)
				}
				named := func(name string) []kmsg.MetadataRequestTopic {
					rt := kmsg.NewMetadataRequestTopic()
					rt.Topic = kmsg.StringPtr(name)
					return []kmsg.MetadataRequestTopic{rt}
				}

				empty := ask([]kmsg.MetadataRequestTopic{})
				switch {
				case v == 0 && len(empty.Topics) != 1:
					t.Errorf("v0 empty list: %d topics, want every topic (1)", len(empty.Topics))
				case v > 0 && len(empty.Topics) != 0:
					t.Errorf("empty list: %d topics, want none", len(empty.Topics))
				}
				if v > 0 {
					if all := ask(nil); len(all.Topics) != 1 {
						t.Errorf("null list: %d topics, want every topic (1)", len(all.Topics))
					}
				}

				first := ask(named("fresh")).Topics
				wantCode := kerr.LeaderNotAvailable.Code
				if !allow {
					wantCode = kerr.UnknownTopicOrPartition.Code
				}
				if len(first) != 1 || first[0].ErrorCode != wantCode || len(first[0].Partitions) != 0 {
					t.Fatalf("absent topic: %+v, want %v and no partitions", first, kerr.ErrorForCode(wantCode))
				}
				again := ask(named("fresh")).Topics
				switch {
				case allow && (again[0].ErrorCode != 0 || len(again[0].Partitions) != 1):
					t.Errorf("auto-created topic asked again: error %v, %d partitions; want it listed", kerr.ErrorForCode(again[0].ErrorCode), len(again[0].Partitions))
				case !allow && again[0].ErrorCode != kerr.UnknownTopicOrPartition.Code:
					t.Errorf("without auto-creation asked again: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(again[0].ErrorCode))
				}
			})
		}
	}
}
