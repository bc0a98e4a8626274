package ingest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetsTopicInMetadata: with a group coordinator, Metadata lists
// __consumer_offsets as internal, with 50 partitions led by live brokers,
// by name, by id and among all topics; without one it is unknown and
// never auto-created.
func TestOffsetsTopicInMetadata(t *testing.T) {
	named := func(version int16) *kmsg.MetadataRequest {
		r := kmsg.NewPtrMetadataRequest()
		r.Version, r.AllowAutoTopicCreation = version, true
		name := offsetsTopicName
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		r.Topics = append(r.Topics, rt)
		return r
	}
	byID := kmsg.NewPtrMetadataRequest()
	byID.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = offsetsTopicID
	byID.Topics = append(byID.Topics, rt)
	all := kmsg.NewPtrMetadataRequest()
	all.Version = 12
	for _, tc := range []struct {
		name string
		req  *kmsg.MetadataRequest
	}{{"by name v1", named(1)}, {"by name v12", named(12)}, {"by id", byID}, {"all topics", all}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			s := NewServer(Config{Logger: quiet}, f.backend(true))
			defer s.Close()
			resp, err := exchange(t, s, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got *kmsg.MetadataResponseTopic
			for i, mt := range resp.(*kmsg.MetadataResponse).Topics {
				if mt.Topic != nil && *mt.Topic == offsetsTopicName {
					got = &resp.(*kmsg.MetadataResponse).Topics[i]
				} else if mt.IsInternal {
					t.Errorf("topic %v is marked internal", mt.Topic)
				}
			}
			if got == nil {
				t.Fatal("__consumer_offsets is not in Metadata")
			}
			if got.ErrorCode != 0 || !got.IsInternal || len(got.Partitions) != 50 {
				t.Fatalf("__consumer_offsets: error %d, internal %v, %d partitions; want 0, true, 50", got.ErrorCode, got.IsInternal, len(got.Partitions))
			}
			for _, p := range got.Partitions {
				if want := int32(1 + p.Partition%2); p.Leader != want || p.ErrorCode != 0 {
					t.Fatalf("partition %d led by %d (error %d), want the live brokers in turn (%d)", p.Partition, p.Leader, p.ErrorCode, want)
				}
			}
			if tc.req.Version >= 10 && got.TopicID != offsetsTopicID {
				t.Errorf("topic id %x, want %x", got.TopicID, offsetsTopicID)
			}
		})
	}
	t.Run("without a group coordinator", func(t *testing.T) {
		f := newFake()
		s := NewServer(Config{Logger: quiet}, f.backend(false))
		defer s.Close()
		resp, err := exchange(t, s, named(12))
		if err != nil {
			t.Fatal(err)
		}
		if mt := resp.(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("error %d, want UNKNOWN_TOPIC_OR_PARTITION", mt.ErrorCode)
		}
	})
}

// TestOffsetsTopicRefusesWrites: the admin and produce APIs answer for
// __consumer_offsets what Kafka answers for an internal topic, and the
// backend is never asked.
func TestOffsetsTopicRefusesWrites(t *testing.T) {
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = offsetsTopicName, 1, 1
	create.Topics = append(create.Topics, ct)

	deleteByName := kmsg.NewPtrDeleteTopicsRequest()
	deleteByName.Version = 5
	deleteByName.TopicNames = []string{offsetsTopicName}
	deleteByID := kmsg.NewPtrDeleteTopicsRequest()
	deleteByID.Version = 6
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = offsetsTopicID
	deleteByID.Topics = append(deleteByID.Topics, dt)

	partitions := kmsg.NewPtrCreatePartitionsRequest()
	cp := kmsg.NewCreatePartitionsRequestTopic()
	cp.Topic, cp.Count = offsetsTopicName, 60
	partitions.Topics = append(partitions.Topics, cp)

	prod := produce(1, false, 0)().(*kmsg.ProduceRequest)
	prod.Topics[0].Topic = offsetsTopicName

	code := func(r kmsg.Response) int16 {
		switch r := r.(type) {
		case *kmsg.CreateTopicsResponse:
			return r.Topics[0].ErrorCode
		case *kmsg.DeleteTopicsResponse:
			return r.Topics[0].ErrorCode
		case *kmsg.CreatePartitionsResponse:
			return r.Topics[0].ErrorCode
		case *kmsg.ProduceResponse:
			return r.Topics[0].Partitions[0].ErrorCode
		}
		panic("unexpected response")
	}
	for _, tc := range []struct {
		name string
		req  kmsg.Request
		want *kerr.Error
	}{
		{"create topics", create, kerr.TopicAlreadyExists},
		{"delete topics by name", deleteByName, kerr.InvalidTopicException},
		{"delete topics by id", deleteByID, kerr.InvalidTopicException},
		{"create partitions", partitions, kerr.InvalidTopicException},
		{"produce", prod, kerr.InvalidTopicException},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			// Were the backend asked, it would succeed.
			f.topics = append(f.topics, TopicInfo{Name: offsetsTopicName, ID: offsetsTopicID, Partitions: make([]PartitionInfo, 1)})
			s := NewServer(Config{Logger: quiet}, f.backend(true))
			defer s.Close()
			resp, err := exchange(t, s, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := code(resp); got != tc.want.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got), tc.want)
			}
			if f.appended != 0 {
				t.Fatal("a produce to __consumer_offsets was appended")
			}
		})
	}
}
