package ingest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchAheadWithinResponseBudget: a consumer starting from earliest on
// many cold partitions names them all in one Fetch; the reads started
// ahead together must not ask, all told, for more than the response can
// return (its MaxBytes), or a 1,000-partition Fetch holds a partition
// max bytes of records per partition (~1 GiB) to return ~50 MiB.
func TestFetchAheadWithinResponseBudget(t *testing.T) {
	const parts, partMax, respMax = 200, 1 << 20, 4 << 20
	f := newFake()
	f.cold = true
	f.fetchBytes = func(maxBytes int, minOne bool) int { return maxBytes } // every partition has plenty
	ps := make([]PartitionInfo, parts)
	for i := range ps {
		ps[i] = PartitionInfo{Partition: int32(i), Leader: 1, LeaderEpoch: 3, Replicas: []int32{1}, ISR: []int32{1}}
	}
	f.topics[0].Partitions, f.notLeader = ps, nil
	s := NewServer(Config{Logger: quiet}, f.backend(false))
	defer s.Close()
	var names []int32
	for i := range parts {
		names = append(names, int32(i))
	}
	req := fetch(12, func(r *kmsg.FetchRequest) { r.MaxBytes = respMax }, names...)()
	resp, err := exchange(t, s, req)
	if err != nil {
		t.Fatal(err)
	}
	returned := 0
	for _, p := range resp.(*kmsg.FetchResponse).Topics[0].Partitions {
		returned += len(p.RecordBatches)
	}
	t.Logf("%d partitions, partition max %d, response max %d: %d bytes read ahead, %d returned", parts, partMax, respMax, f.aheadBytes, returned)
	if returned == 0 || returned > respMax {
		t.Fatalf("%d bytes returned, want 1..%d", returned, respMax)
	}
	if f.aheadBytes > respMax {
		t.Fatalf("%d bytes read ahead for a response of at most %d (%d returned)", f.aheadBytes, respMax, returned)
	}
}
