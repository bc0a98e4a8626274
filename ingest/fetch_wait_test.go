package ingest

import (
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/recordbatch"
)

// TestFetchMinBytesMaxWait checks when a Fetch is answered, as Kafka's
// DelayedFetch decides it: once MinBytes have accumulated across the
// partitions named (hot or cold), at once when a partition fails or a
// cold read served data, and otherwise when MaxWait passes. Reads are counted, not timed: a fetch
// that waits out MaxWait reads every partition once more after the wait.
func TestFetchMinBytesMaxWait(t *testing.T) {
	for _, tc := range []struct {
		name      string
		topic     string
		parts     []int32
		perRead   int // bytes each partition read returns
		cold      bool
		replica   int32 // > 0: a follower's fetch
		minBytes  int32
		maxWaitMs int32
		wantReads int32
		wantBytes int
	}{
		// Kafka waits for MinBytes although some data is there: 830 bytes
		// against 10 MiB waits out MaxWait and re-reads.
		{name: "some data below MinBytes waits out MaxWait", topic: "t", parts: []int32{0}, perRead: 830,
			minBytes: 10 << 20, maxWaitMs: 1, wantReads: 2, wantBytes: 830},
		{name: "MinBytes reached across partitions answers at once", topic: "big", parts: []int32{0, 1, 2}, perRead: 40,
			minBytes: 100, maxWaitMs: 60_000, wantReads: 3, wantBytes: 120},
		{name: "cold data counts toward MinBytes", topic: "big", parts: []int32{0, 1, 2}, perRead: 40, cold: true,
			minBytes: 100, maxWaitMs: 60_000, wantReads: 3, wantBytes: 120},
		// Kafka answers a remote-tier read once it is done
		// (DelayedRemoteFetch): no re-reads of the object store.
		{name: "cold data below MinBytes answers once read", topic: "big", parts: []int32{0, 1}, perRead: 40, cold: true,
			minBytes: 100, maxWaitMs: 60_000, wantReads: 2, wantBytes: 80},
		{name: "cold partitions with nothing wait out MaxWait", topic: "big", parts: []int32{0, 1}, perRead: 0, cold: true,
			minBytes: 100, maxWaitMs: 1, wantReads: 4, wantBytes: 0},
		// Partition 1 of t is led elsewhere: NOT_LEADER answers at once.
		{name: "an error answers at once", topic: "t", parts: []int32{0, 1}, perRead: 10,
			minBytes: 100, maxWaitMs: 60_000, wantReads: 1, wantBytes: 10},
		{name: "MinBytes 1 answers at once", topic: "t", parts: []int32{0}, perRead: 10,
			minBytes: 1, maxWaitMs: 60_000, wantReads: 1, wantBytes: 10},
		// Followers keep their own rule: any data answers.
		{name: "replica fetch with data answers at once", topic: "t", parts: []int32{0}, perRead: 10, replica: 2,
			minBytes: 100, maxWaitMs: 60_000, wantReads: 1, wantBytes: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.topics = append(f.topics, TopicInfo{Name: "big", ID: [16]byte{8}, Partitions: make([]PartitionInfo, 3)})
			var reads atomic.Int32
			f.fetchBytes = func(maxBytes int, _ bool) int {
				reads.Add(1)
				return min(maxBytes, tc.perRead)
			}
			f.cold = tc.cold
			s := NewServer(Config{Logger: quiet}, f.backend(false))
			defer s.Close()
			req := fetch(12, func(r *kmsg.FetchRequest) {
				r.Topics[0].Topic = tc.topic
				r.MinBytes, r.MaxWaitMillis = tc.minBytes, tc.maxWaitMs
				if tc.replica > 0 {
					r.ReplicaID = tc.replica
				}
			}, tc.parts...)()
			principal := Anonymous
			if tc.replica > 0 {
				principal = brokerPrincipal(tc.replica) // only a proven broker's fetch is a replica fetch
			}
			resp, err := exchangeAs(t, s, principal, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := fetchedBytes(resp.(*kmsg.FetchResponse)); got != tc.wantBytes {
				t.Errorf("response carries %d bytes, want %d", got, tc.wantBytes)
			}
			if got := reads.Load(); got != tc.wantReads {
				t.Errorf("%d partition reads, want %d", got, tc.wantReads)
			}
		})
	}
}

// TestFetchWakesOnAppend: a fetch waiting for MinBytes wakes when data
// arrives during the wait, re-reads and answers with it, long before
// MaxWait (60 s here: the test would time out rather than pass slowly).
func TestFetchWakesOnAppend(t *testing.T) {
	f := newFake()
	f.wake = make(chan struct{})
	var avail atomic.Int64
	avail.Store(10)
	firstRead := make(chan struct{}, 1)
	f.fetchBytes = func(maxBytes int, _ bool) int {
		select {
		case firstRead <- struct{}{}:
		default:
		}
		return min(maxBytes, int(avail.Load()))
	}
	s := NewServer(Config{Logger: quiet}, f.backend(false))
	defer s.Close()
	req := fetch(12, func(r *kmsg.FetchRequest) { r.MinBytes, r.MaxWaitMillis = 100, 60_000 }, 0)()
	done := make(chan kmsg.Response, 1)
	go func() {
		resp, err := exchange(t, s, req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	<-firstRead
	avail.Store(200) // an append during the wait
	close(f.wake)
	resp := <-done
	if resp == nil {
		t.Fatal("no response")
	}
	if got := fetchedBytes(resp.(*kmsg.FetchResponse)); got != 200 {
		t.Fatalf("response carries %d bytes, want the 200 appended during the wait", got)
	}
}

func fetchedBytes(resp *kmsg.FetchResponse) int {
	n := 0
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			n += len(p.RecordBatches)
		}
	}
	return n
}

// TestOffsetAfter: where a waiting fetch goes on reading a partition,
// after the last whole batch of what it holds.
func TestOffsetAfter(t *testing.T) {
	batch := func(base int64, records int32) []byte {
		rec := recordbatch.AppendRecord(nil, 0, 0, nil, []byte("v"), nil)
		return recordbatch.AppendBatch(nil, recordbatch.Header{BaseOffset: base, LastOffsetDelta: records - 1, NumRecords: records}, rec)
	}
	two := append(batch(10, 3), batch(13, 2)...)
	for _, tc := range []struct {
		name    string
		records []byte
		want    int64
		ok      bool
	}{
		{name: "empty", records: nil, want: 0, ok: true},
		{name: "one batch", records: batch(10, 3), want: 13, ok: true},
		{name: "two batches", records: two, want: 15, ok: true},
		{name: "a partial batch at the end", records: two[:len(two)-5], want: 13, ok: true},
		{name: "only part of a batch", records: two[:20], ok: false},
		{name: "not batches", records: make([]byte, 100), ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := offsetAfter(tc.records)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("offsetAfter = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
