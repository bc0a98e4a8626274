package meta

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The whole etcd key layout, top to bottom (docs/etcd-keys.md says the same
// with value schemas; change both together):
//
//	/strata/<cluster>/cluster-id                                  cluster id (JSON string)
//	/strata/<cluster>/cluster-secret                              inter-broker secret (JSON string, base64; cluster.go)
//	/strata/<cluster>/brokers/<id>                                BrokerInfo, bound to the broker's lease
//	/strata/<cluster>/producer-ids                                next unallocated producer id (decimal)
//	/strata/<cluster>/controller/<lease id hex>                   controller candidate: broker id (controller.go)
//	/strata/<cluster>/topics/<topic>                              Topic
//	/strata/<cluster>/partitions/<topic>/<partition>              PartitionState
//	/strata/<cluster>/epochs/<topic>/<partition>                  leader epoch, decimal: the fencing key
//	/strata/<cluster>/groups/<group>/state                        GroupState (groups.go)
//	/strata/<cluster>/groups/<group>/offsets/<topic>/<partition>  GroupOffset: a committed offset (groups.go)
//	/strata/<cluster>/groups/<group>/txn/<producer id>            GroupTxnOffsets: pending offsets of a transaction (groups.go)
//	/strata/<cluster>/tier/<topic>/<partition>/<base offset>      TierSegment: one cold-tier object (tier.go)
//	/strata/<cluster>/log-start/<topic>/<partition>               log start offset set by DeleteRecords, decimal (logstart.go)
//	/strata/<cluster>/broker-configs/<broker id | default>       dynamic broker configs, JSON object (brokerconfigs.go)
//	/strata/<cluster>/txns/<transactional id>                     TxnState: a transactional id's producer and transaction (txn.go)
//	/strata/<cluster>/iceberg/<topic>                             IcebergTable: the topic's Iceberg metadata pointer (iceberg.go)
//	/strata/<cluster>/acls/<binding id>                           auth.Binding: one ACL (security.go)
//	/strata/<cluster>/scram/<user>/<mechanism>                    auth.ScramCredential (security.go)
//	/strata/<cluster>/quotas/<entity>                             quota.Values: a client quota (quotas.go)
//
// Numbers in keys are zero-padded so that a prefix listing (etcd sorts by key
// bytes) is in numeric order: int32 values (broker id, partition) to 10 digits,
// int64 offsets to 20 digits (as hotlog names its segment files). Negative
// numbers never reach a key; callers validate first.
//
// Names in keys: topic names are restricted to Kafka's legal characters
// [a-zA-Z0-9._-] (validTopicName), so they never contain '/'. Group ids may be
// any string in Kafka, and so may transactional ids, so they are path-escaped (url.PathEscape: '/' becomes
// %2F). The cluster name is path-escaped too.

const keyRoot = "/strata/"

// Keys builds the etcd keys of one cluster. Use Client.Keys; the zero value is
// not useful.
type Keys struct{ root string }

func newKeys(cluster string) Keys {
	return Keys{root: keyRoot + url.PathEscape(cluster) + "/"}
}

func pad32(n int32) string { return fmt.Sprintf("%010d", n) }
func pad64(n int64) string { return fmt.Sprintf("%020d", n) }

// Root is "/strata/<cluster>/"; every key of the cluster starts with it.
func (k Keys) Root() string { return k.root }

// ClusterID is "/strata/<cluster>/cluster-id".
func (k Keys) ClusterID() string { return k.root + "cluster-id" }

// ClusterSecret is "/strata/<cluster>/cluster-secret": the random secret
// the brokers derive their inter-broker credentials from.
func (k Keys) ClusterSecret() string { return k.root + "cluster-secret" }

// ProducerIDs is "/strata/<cluster>/producer-ids": the first producer id
// no broker has claimed yet. Brokers claim blocks of ids with a CAS.
func (k Keys) ProducerIDs() string { return k.root + "producer-ids" }

// Brokers is the prefix of every broker registration.
func (k Keys) Brokers() string { return k.root + "brokers/" }

// Broker is "/strata/<cluster>/brokers/<id, 10 digits>".
func (k Keys) Broker(id int32) string { return k.Brokers() + pad32(id) }

// Controller is the election prefix for concurrency.NewElection (which appends
// "/<lease id hex>" per candidate). It has no trailing slash.
func (k Keys) Controller() string { return k.root + "controller" }

// ControllerCandidates is the prefix of the candidates' keys; the one
// created first is the controller's.
func (k Keys) ControllerCandidates() string { return k.Controller() + "/" }

// Topics is the prefix of every topic key.
func (k Keys) Topics() string { return k.root + "topics/" }

// Topic is "/strata/<cluster>/topics/<topic>".
func (k Keys) Topic(topic string) string { return k.Topics() + topic }

// AllPartitions is the prefix of every topic's partition states.
func (k Keys) AllPartitions() string { return k.root + "partitions/" }

// Partitions is the prefix of a topic's partition states.
func (k Keys) Partitions(topic string) string { return k.AllPartitions() + topic + "/" }

// Partition is "/strata/<cluster>/partitions/<topic>/<partition, 10 digits>".
func (k Keys) Partition(topic string, p int32) string { return k.Partitions(topic) + pad32(p) }

// Epochs is the prefix of a topic's fencing keys.
func (k Keys) Epochs(topic string) string { return k.root + "epochs/" + topic + "/" }

// Epoch is "/strata/<cluster>/epochs/<topic>/<partition, 10 digits>": the
// partition's leader epoch as a decimal string, compared by FencedTxn.
func (k Keys) Epoch(topic string, p int32) string { return k.Epochs(topic) + pad32(p) }

// Groups is the prefix of every consumer-group key.
func (k Keys) Groups() string { return k.root + "groups/" }

// Group is the prefix of one group's keys: "/strata/<cluster>/groups/<escaped group>/".
func (k Keys) Group(group string) string { return k.Groups() + url.PathEscape(group) + "/" }

// GroupState is "/strata/<cluster>/groups/<escaped group>/state".
func (k Keys) GroupState(group string) string { return k.Group(group) + "state" }

// GroupOffsets is the prefix of one group's committed offsets.
func (k Keys) GroupOffsets(group string) string { return k.Group(group) + "offsets/" }

// GroupOffset is "/strata/<cluster>/groups/<escaped group>/offsets/<topic>/<partition, 10 digits>".
func (k Keys) GroupOffset(group, topic string, p int32) string {
	return k.GroupOffsets(group) + topic + "/" + pad32(p)
}

// GroupTxnOffsets is "/strata/<cluster>/groups/<escaped group>/txn/<producer id, 20 digits>":
// a producer's pending transactional offsets.
func (k Keys) GroupTxnOffsets(group string, pid int64) string {
	return k.Group(group) + "txn/" + pad64(pid)
}

// AllTier is the prefix of every tier manifest.
func (k Keys) AllTier() string { return k.root + "tier/" }

// TierTopic is the prefix of a topic's tier manifests.
func (k Keys) TierTopic(topic string) string { return k.AllTier() + topic + "/" }

// Tier is the prefix of one partition's tier manifest.
func (k Keys) Tier(topic string, p int32) string { return k.TierTopic(topic) + pad32(p) + "/" }

// TierSegment is "/strata/<cluster>/tier/<topic>/<partition, 10 digits>/<base offset, 20 digits>".
func (k Keys) TierSegment(topic string, p int32, baseOffset int64) string {
	return k.Tier(topic, p) + pad64(baseOffset)
}

// LogStarts is the prefix of a topic's log start offsets.
func (k Keys) LogStarts(topic string) string { return k.root + "log-start/" + topic + "/" }

// LogStart is "/strata/<cluster>/log-start/<topic>/<partition, 10 digits>":
// the partition's log start offset as DeleteRecords last advanced it.
func (k Keys) LogStart(topic string, p int32) string { return k.LogStarts(topic) + pad32(p) }

// AllBrokerConfigs is the prefix of the dynamic broker configs.
func (k Keys) AllBrokerConfigs() string { return k.root + "broker-configs/" }

// BrokerConfigs is "/strata/<cluster>/broker-configs/<broker id, 10
// digits>", or ".../broker-configs/default" for BrokerConfigsDefault.
func (k Keys) BrokerConfigs(scope int32) string {
	if scope == BrokerConfigsDefault {
		return k.AllBrokerConfigs() + "default"
	}
	return k.AllBrokerConfigs() + pad32(scope)
}

// IcebergTables is the prefix of every topic's Iceberg table pointer.
func (k Keys) IcebergTables() string { return k.root + "iceberg/" }

// IcebergTable is "/strata/<cluster>/iceberg/<topic>".
func (k Keys) IcebergTable(topic string) string { return k.IcebergTables() + topic }

// ACLs is the prefix of every ACL binding.
func (k Keys) ACLs() string { return k.root + "acls/" }

// ACL is "/strata/<cluster>/acls/<id>": id is 32 hex digits of the hash
// of the binding's JSON (one key per distinct binding).
func (k Keys) ACL(id string) string { return k.ACLs() + id }

// ScramAll is the prefix of every SCRAM credential.
func (k Keys) ScramAll() string { return k.root + "scram/" }

// ScramUser is the prefix of one user's credentials:
// "/strata/<cluster>/scram/<escaped user>/".
func (k Keys) ScramUser(user string) string { return k.ScramAll() + url.PathEscape(user) + "/" }

// ScramCredential is "/strata/<cluster>/scram/<escaped user>/<mechanism>".
func (k Keys) ScramCredential(user, mechanism string) string { return k.ScramUser(user) + mechanism }

// ClientQuotas is the prefix of every client quota.
func (k Keys) ClientQuotas() string { return k.root + "quotas/" }

// ClientQuota is "/strata/<cluster>/quotas/<entity key>", the key of
// quota.Entity.Key ("user=alice", "user=<default>/client-id=app"; names
// in it path-escaped).
func (k Keys) ClientQuota(entity string) string { return k.ClientQuotas() + entity }

// Parsing keys back, for listings and watches over a prefix.

// parsePartition splits a key under AllPartitions (or Epochs) into the
// partition number; ok is false for anything else.
func parsePartition(s string) (int32, bool) {
	p, err := strconv.ParseInt(s, 10, 32)
	return int32(p), err == nil && p >= 0
}

// parseTierSegment splits a key under AllTier into topic and partition.
func (k Keys) parseTierSegment(key string) (topic string, partition int32, ok bool) {
	parts := strings.Split(strings.TrimPrefix(key, k.AllTier()), "/")
	if len(parts) != 3 || parts[2] == "" || !strings.HasPrefix(key, k.AllTier()) {
		return "", 0, false
	}
	p, ok := parsePartition(parts[1])
	return parts[0], p, ok
}

// parseGroupKey splits a key under Groups into the (unescaped) group id and
// what follows it: "state" or "offsets/<topic>/<partition>".
func (k Keys) parseGroupKey(key string) (group, sub string, err error) {
	rest, ok := strings.CutPrefix(key, k.Groups())
	if !ok {
		return "", "", fmt.Errorf("not under %s", k.Groups())
	}
	escaped, sub, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("no group id")
	}
	group, err = url.PathUnescape(escaped)
	if err != nil {
		return "", "", fmt.Errorf("bad escaping: %w", err)
	}
	return group, sub, nil
}

// parseGroupOffset splits the sub-key "offsets/<topic>/<partition>" of
// parseGroupKey.
func parseGroupOffset(sub string) (topic string, partition int32, ok bool) {
	rest, ok := strings.CutPrefix(sub, "offsets/")
	if !ok {
		return "", 0, false
	}
	topic, part, ok := strings.Cut(rest, "/")
	p, pok := parsePartition(part)
	return topic, p, ok && pok && validTopicName(topic) == nil
}

// Schemas is the prefix of the schema registry's keys (meta/schemas.go).
func (k Keys) Schemas() string { return k.root + "schemas/" }

// SchemaNextID holds the next unallocated global schema id, decimal.
func (k Keys) SchemaNextID() string { return k.Schemas() + "next-id" }

// SchemaID is one schema by its global id.
func (k Keys) SchemaID(id int32) string { return k.Schemas() + "ids/" + pad32(id) }

// SchemaFingerprint maps a schema's identity (hex SHA-256 of its type,
// canonical form and references) to its id.
func (k Keys) SchemaFingerprint(fp string) string { return k.Schemas() + "fingerprints/" + fp }

// SchemaSubjects is the prefix of every subject's versions.
func (k Keys) SchemaSubjects() string { return k.Schemas() + "subjects/" }

// SchemaSubject is the prefix of one subject's versions; subjects are
// path-escaped (any string is a legal subject).
func (k Keys) SchemaSubject(subject string) string {
	return k.SchemaSubjects() + url.PathEscape(subject) + "/"
}

// SchemaVersion is one version of a subject.
func (k Keys) SchemaVersion(subject string, version int32) string {
	return k.SchemaSubject(subject) + pad32(version)
}

// SchemaSetting is the compatibility level ("config") or mode ("mode") of
// a subject, or the global one for subject "".
func (k Keys) SchemaSetting(kind, subject string) string {
	if subject == "" {
		return k.Schemas() + kind
	}
	return k.Schemas() + kind + "s/" + url.PathEscape(subject)
}
