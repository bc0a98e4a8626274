package ingest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pagedFake has topics a (3 partitions), b (1) and c (2), led by broker 1.
func pagedFake() *fake {
	f := newFake()
	f.topics = nil
	for _, tp := range []struct {
		name string
		n    int32
	}{{"a", 3}, {"b", 1}, {"c", 2}} {
		ti := TopicInfo{Name: tp.name, ID: [16]byte{byte(tp.name[0])}, ReplicationFactor: 1}
		for p := range tp.n {
			ti.Partitions = append(ti.Partitions, PartitionInfo{Partition: p, Leader: 1, LeaderEpoch: 4, Replicas: []int32{1}, ISR: []int32{1}})
		}
		f.topics = append(f.topics, ti)
	}
	return f
}

// describeTopicPartitions asks for topics with a limit and an optional
// cursor ("" for none).
func describeTopicPartitions(topics []string, limit int32, cursorTopic string, cursorPartition int32) *kmsg.DescribeTopicPartitionsRequest {
	r := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, t := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = t
		r.Topics = append(r.Topics, rt)
	}
	r.ResponsePartitionLimit = limit
	if cursorTopic != "" {
		r.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: cursorTopic, Partition: cursorPartition}
	}
	return r
}

// page lists a response as "topic/partition" (or "topic:ERROR") and its
// next cursor ("" for none).
func page(t *testing.T, r *kmsg.DescribeTopicPartitionsResponse) (got []string, cursor string) {
	t.Helper()
	for _, rt := range r.Topics {
		if rt.ErrorCode != 0 {
			got = append(got, fmt.Sprintf("%s:%s", *rt.Topic, kerr.ErrorForCode(rt.ErrorCode).(*kerr.Error).Message))
			continue
		}
		for _, p := range rt.Partitions {
			if p.LeaderID != 1 || p.LeaderEpoch != 4 || !slices.Equal(p.Replicas, []int32{1}) || p.EligibleLeaderReplicas != nil {
				t.Errorf("%s/%d: %+v", *rt.Topic, p.Partition, p)
			}
			got = append(got, fmt.Sprintf("%s/%d", *rt.Topic, p.Partition))
		}
	}
	if c := r.NextCursor; c != nil {
		cursor = fmt.Sprintf("%s/%d", c.Topic, c.Partition)
	}
	return got, cursor
}

func TestDescribeTopicPartitionsPages(t *testing.T) {
	for _, tc := range []struct {
		name       string
		req        *kmsg.DescribeTopicPartitionsRequest
		want       []string
		wantCursor string
	}{
		{"first page", describeTopicPartitions(nil, 2, "", 0), []string{"a/0", "a/1"}, "a/2"},
		{"limit ends with a topic", describeTopicPartitions(nil, 3, "", 0), []string{"a/0", "a/1", "a/2"}, "b/0"},
		{"from a cursor inside a topic", describeTopicPartitions(nil, 2, "a", 2), []string{"a/2", "b/0"}, "c/0"},
		{"last page", describeTopicPartitions(nil, 5, "b", 0), []string{"b/0", "c/0", "c/1"}, ""},
		{"no limit is the broker's", describeTopicPartitions(nil, 0, "", 0), []string{"a/0", "a/1", "a/2", "b/0", "c/0", "c/1"}, ""},
		{"named, sorted, unknown ones answered", describeTopicPartitions([]string{"c", "zz", "a", "c"}, 10, "", 0),
			[]string{"a/0", "a/1", "a/2", "c/0", "c/1", "zz:UNKNOWN_TOPIC_OR_PARTITION"}, ""},
		{"named with a cursor", describeTopicPartitions([]string{"c", "a"}, 2, "a", 1), []string{"a/1", "a/2"}, "c/0"},
		{"cursor not among the named topics", describeTopicPartitions([]string{"a", "b"}, 2, "c", 0),
			[]string{"a:INVALID_REQUEST", "b:INVALID_REQUEST"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(Config{Logger: quiet}, pagedFake().backend(false))
			defer s.Close()
			resp, err := exchange(t, s, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, cursor := page(t, resp.(*kmsg.DescribeTopicPartitionsResponse))
			if !slices.Equal(got, tc.want) || cursor != tc.wantCursor {
				t.Fatalf("got %v, cursor %q; want %v, cursor %q", got, cursor, tc.want, tc.wantCursor)
			}
		})
	}
}

// TestDescribeTopicPartitionsWalk: following NextCursor with a limit of
// one partition visits every partition once, in order, then stops.
func TestDescribeTopicPartitionsWalk(t *testing.T) {
	s := NewServer(Config{Logger: quiet}, pagedFake().backend(false))
	defer s.Close()
	var all []string
	req := describeTopicPartitions(nil, 1, "", 0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("no end after %d pages: %v", pages, all)
		}
		resp, err := exchange(t, s, req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.DescribeTopicPartitionsResponse)
		got, _ := page(t, r)
		all = append(all, got...)
		if r.NextCursor == nil {
			break
		}
		req = describeTopicPartitions(nil, 1, r.NextCursor.Topic, r.NextCursor.Partition)
	}
	if want := []string{"a/0", "a/1", "a/2", "b/0", "c/0", "c/1"}; !slices.Equal(all, want) {
		t.Fatalf("walked %v, want %v", all, want)
	}
}
