package meta

import (
	"sort"
	"testing"
)

func TestKeys(t *testing.T) {
	k := newKeys("prod")
	tests := []struct{ got, want string }{
		{k.ClusterID(), "/strata/prod/cluster-id"},
		{k.Broker(7), "/strata/prod/brokers/0000000007"},
		{k.Controller(), "/strata/prod/controller"},
		{k.Topic("orders"), "/strata/prod/topics/orders"},
		{k.Partition("orders", 12), "/strata/prod/partitions/orders/0000000012"},
		{k.Epoch("orders", 12), "/strata/prod/epochs/orders/0000000012"},
		{k.GroupState("g/1 x"), "/strata/prod/groups/g%2F1%20x/state"},
		{k.GroupOffset("g", "orders", 3), "/strata/prod/groups/g/offsets/orders/0000000003"},
		{k.TierSegment("orders", 3, 1234), "/strata/prod/tier/orders/0000000003/00000000000000001234"},
		{newKeys("a/b").Root(), "/strata/a%2Fb/"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// Byte order of keys is numeric order.
	var ks []string
	for _, p := range []int32{10, 2, 1 << 30, 0, 9} {
		ks = append(ks, k.Partition("t", p))
	}
	sort.Strings(ks)
	if ks[0] != k.Partition("t", 0) || ks[1] != k.Partition("t", 2) || ks[4] != k.Partition("t", 1<<30) {
		t.Fatalf("sorted keys %v", ks)
	}
}
