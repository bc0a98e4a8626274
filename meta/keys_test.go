package meta

import (
	"sort"
	"testing"
)

func TestKeys(t *testing.T) {
	k := newKeys("prod")
	tests := []struct{ got, want string }{
		{k.ClusterID(), "/strata/prod/cluster-id"},
		{k.ClusterSecret(), "/strata/prod/cluster-secret"},
		{k.Broker(7), "/strata/prod/brokers/0000000007"},
		{k.Controller(), "/strata/prod/controller"},
		{k.ControllerCandidates(), "/strata/prod/controller/"},
		{k.ProducerIDs(), "/strata/prod/producer-ids"},
		{k.AllPartitions(), "/strata/prod/partitions/"},
		{k.AllTier(), "/strata/prod/tier/"},
		{k.Topic("orders"), "/strata/prod/topics/orders"},
		{k.Partition("orders", 12), "/strata/prod/partitions/orders/0000000012"},
		{k.Epoch("orders", 12), "/strata/prod/epochs/orders/0000000012"},
		{k.GroupState("g/1 x"), "/strata/prod/groups/g%2F1%20x/state"},
		{k.GroupOffset("g", "orders", 3), "/strata/prod/groups/g/offsets/orders/0000000003"},
		{k.TierSegment("orders", 3, 1234), "/strata/prod/tier/orders/0000000003/00000000000000001234"},
		{k.LogStart("orders", 3), "/strata/prod/log-start/orders/0000000003"},
		{k.BrokerConfigs(7), "/strata/prod/broker-configs/0000000007"},
		{k.BrokerConfigs(BrokerConfigsDefault), "/strata/prod/broker-configs/default"},
		{newKeys("a/b").Root(), "/strata/a%2Fb/"},
		{k.Txn("app/1 x"), "/strata/prod/txns/app%2F1%20x"},
		{k.ACL("00ff"), "/strata/prod/acls/00ff"},
		{k.ScramCredential("al/ice", "SCRAM-SHA-512"), "/strata/prod/scram/al%2Fice/SCRAM-SHA-512"},
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

// The parsers read back exactly what the builders write.
func TestParseKeys(t *testing.T) {
	k := newKeys("prod")
	if topic, p, ok := k.parseTierSegment(k.TierSegment("orders", 3, 1234)); !ok || topic != "orders" || p != 3 {
		t.Errorf("parseTierSegment = %q, %d, %v", topic, p, ok)
	}
	for _, bad := range []string{k.Tier("orders", 3), k.AllTier() + "orders/x/1", k.Topic("orders")} {
		if _, _, ok := k.parseTierSegment(bad); ok {
			t.Errorf("parseTierSegment(%q) ok", bad)
		}
	}
	g, sub, err := k.parseGroupKey(k.GroupOffset("g/1 x", "orders", 3))
	if err != nil || g != "g/1 x" {
		t.Fatalf("parseGroupKey = %q, %q, %v", g, sub, err)
	}
	if topic, p, ok := parseGroupOffset(sub); !ok || topic != "orders" || p != 3 {
		t.Errorf("parseGroupOffset(%q) = %q, %d, %v", sub, topic, p, ok)
	}
	if g, sub, err := k.parseGroupKey(k.GroupState("g")); err != nil || g != "g" || sub != "state" {
		t.Errorf("parseGroupKey(state) = %q, %q, %v", g, sub, err)
	}
	for _, bad := range []string{k.Groups() + "g", k.Groups() + "%zz/state", k.Topic("g")} {
		if _, _, err := k.parseGroupKey(bad); err == nil {
			t.Errorf("parseGroupKey(%q) ok", bad)
		}
	}
	for _, bad := range []string{"offsets/orders", "offsets/a b/1", "offsets/orders/-1", "state"} {
		if _, _, ok := parseGroupOffset(bad); ok {
			t.Errorf("parseGroupOffset(%q) ok", bad)
		}
	}
}
