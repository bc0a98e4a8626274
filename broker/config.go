package broker

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ConfigType mirrors the Kafka DescribeConfigs config types, so the admin
// clients render values the way they do for Apache Kafka.
type ConfigType int8

const (
	ConfigBoolean ConfigType = 1
	ConfigString  ConfigType = 2
	ConfigInt     ConfigType = 3
	ConfigLong    ConfigType = 5
	ConfigDouble  ConfigType = 6
	ConfigList    ConfigType = 7
)

// topicConfigDef describes one topic config Strata understands: its Kafka
// name, default, type and the check a new value must pass.
type topicConfigDef struct {
	name    string
	def     string
	typ     ConfigType
	doc     string
	isValid func(string) error
}

// Config value bounds and defaults. The defaults are Kafka's, except
// segment.bytes (DESIGN.md: 128 MiB keeps segments small enough to tier
// promptly) and flush.ms (see docs/durability.md).
const (
	DefaultSegmentBytes    = 128 << 20
	DefaultMaxMessageBytes = 1048588
	week                   = 7 * 24 * time.Hour
)

func intRange(lo, hi int64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		if v < lo || v > hi {
			return fmt.Errorf("value %d out of range [%d, %d]", v, lo, hi)
		}
		return nil
	}
}

func oneOf(allowed ...string) func(string) error {
	return func(s string) error {
		for _, a := range allowed {
			if s == a {
				return nil
			}
		}
		return fmt.Errorf("value %q not one of %s", s, strings.Join(allowed, ", "))
	}
}

// cleanupPolicy checks cleanup.policy as Kafka does (a list of compact and
// delete, in any order, at least one).
func cleanupPolicy(s string) error {
	items := strings.Split(s, ",")
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "compact" && it != "delete" {
			return fmt.Errorf("invalid value %q: cleanup.policy is a list of compact and delete", s)
		}
	}
	return nil
}

// parsePolicy reports whether a valid cleanup.policy includes compact and
// delete.
func parsePolicy(s string) (compact, del bool) {
	for _, it := range strings.Split(s, ",") {
		switch strings.TrimSpace(it) {
		case "compact":
			compact = true
		case "delete":
			del = true
		}
	}
	return compact, del
}

func nonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty value")
	}
	return nil
}

// gzipLevel is Kafka's range for compression.gzip.level: 1 to 9, or -1
// (the codec's default).
func gzipLevel(s string) error {
	if s == "-1" {
		return nil
	}
	return intRange(1, 9)(s)
}

// throttledReplicas checks a throttled-replicas list as Kafka does: "*",
// or partition:broker pairs.
func throttledReplicas(s string) error {
	if s = strings.TrimSpace(s); s == "" || s == "*" {
		return nil
	}
	for _, it := range strings.Split(s, ",") {
		p, b, ok := strings.Cut(strings.TrimSpace(it), ":")
		if _, err := strconv.ParseUint(p, 10, 31); !ok || err != nil {
			return fmt.Errorf("invalid value %q: want * or partition:broker pairs", s)
		}
		if _, err := strconv.ParseUint(b, 10, 31); err != nil {
			return fmt.Errorf("invalid value %q: want * or partition:broker pairs", s)
		}
	}
	return nil
}

func ratio(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		return fmt.Errorf("not a number: %q", s)
	}
	if v < 0 || v > 1 {
		return fmt.Errorf("value %v out of range [0, 1]", v)
	}
	return nil
}

var topicConfigDefs = []topicConfigDef{
	{"cleanup.policy", "delete", ConfigList, "delete: old segments are deleted by retention.ms/bytes; compact: the log cleaner keeps the last record of every key (docs/compaction.md); compact,delete: both.", cleanupPolicy},
	{"compression.gzip.level", "-1", ConfigInt, "gzip level of batches the broker compresses (compression.type=gzip); accepted, Strata's gzip writer uses its default level.", gzipLevel},
	{"compression.lz4.level", "9", ConfigInt, "lz4 level of batches the broker compresses (compression.type=lz4); accepted, Strata's lz4 writer uses its default level.", intRange(1, 17)},
	{"compression.type", "producer", ConfigString, "producer: batches are stored as the producer compressed them; uncompressed, gzip, snappy, lz4 or zstd: the broker recompresses batches that use another codec.", oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	{"compression.zstd.level", "3", ConfigInt, "zstd level of batches the broker compresses (compression.type=zstd); accepted, Strata's zstd writer uses its default level.", intRange(-131072, 22)},
	{"delete.retention.ms", "86400000", ConfigLong, "Compacted topics: how long a tombstone is kept after the cleaner first saw it.", intRange(0, math.MaxInt64)},
	{"file.delete.delay.ms", "60000", ConfigLong, "Accepted for Kafka compatibility; Strata deletes a segment's files when retention removes it.", intRange(0, math.MaxInt64)},
	{"flush.messages", strconv.FormatInt(math.MaxInt64, 10), ConfigLong, "Force an fsync after this many messages, before acknowledging them.", intRange(1, math.MaxInt64)},
	{"flush.ms", "1000", ConfigLong, "Longest time appended data may stay in the page cache before a background fsync.", intRange(0, math.MaxInt64)},
	{"follower.replication.throttled.replicas", "", ConfigList, "Accepted for Kafka compatibility; Strata does not throttle replication.", throttledReplicas},
	{"index.interval.bytes", "4096", ConfigInt, "Bytes between entries of the sparse offset and time indexes.", intRange(0, math.MaxInt32)},
	{"leader.replication.throttled.replicas", "", ConfigList, "Accepted for Kafka compatibility; Strata does not throttle replication.", throttledReplicas},
	{"local.retention.bytes", "-2", ConfigLong, "With remote storage: largest size of the local log before old segments already in the cold tier are deleted; -2 = retention.bytes, -1 = unlimited.", intRange(-2, math.MaxInt64)},
	{"local.retention.ms", "-2", ConfigLong, "With remote storage: age after which local segments already in the cold tier are deleted; -2 = retention.ms, -1 = unlimited.", intRange(-2, math.MaxInt64)},
	{"max.message.bytes", strconv.Itoa(DefaultMaxMessageBytes), ConfigInt, "Largest record batch the broker accepts.", intRange(0, math.MaxInt32)},
	{"max.compaction.lag.ms", strconv.FormatInt(math.MaxInt64, 10), ConfigLong, "Compacted topics: longest time a record stays uncleaned (the active segment is rolled for it).", intRange(1, math.MaxInt64)},
	{"message.downconversion.enable", "true", ConfigBoolean, "Accepted for Kafka compatibility; Strata never down-converts (Fetch below v4 is not offered).", oneOf("true", "false")},
	{"message.format.version", "3.0-IV1", ConfigString, "Accepted for Kafka compatibility (deprecated); Strata stores record batches v2 only.", nonEmpty},
	{"message.timestamp.after.max.ms", strconv.FormatInt(math.MaxInt64, 10), ConfigLong, "CreateTime topics: a record whose timestamp is more than this ahead of the broker's clock is refused with INVALID_TIMESTAMP.", intRange(0, math.MaxInt64)},
	{"message.timestamp.before.max.ms", strconv.FormatInt(math.MaxInt64, 10), ConfigLong, "CreateTime topics: a record whose timestamp is more than this behind the broker's clock is refused with INVALID_TIMESTAMP.", intRange(0, math.MaxInt64)},
	{"message.timestamp.difference.max.ms", strconv.FormatInt(math.MaxInt64, 10), ConfigLong, "Deprecated: the bound of message.timestamp.before.max.ms and message.timestamp.after.max.ms when they are not set.", intRange(0, math.MaxInt64)},
	{"message.timestamp.type", "CreateTime", ConfigString, "CreateTime keeps the producer timestamp; LogAppendTime stamps batches with the broker clock.", oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", "0.5", ConfigDouble, "Compacted topics: the share of the log that must be uncleaned before the cleaner runs on it.", ratio},
	{"min.compaction.lag.ms", "0", ConfigLong, "Compacted topics: a record stays uncleaned at least this long.", intRange(0, math.MaxInt64)},
	{"min.insync.replicas", "1", ConfigInt, "Replicas that must have a record before acks=all is answered.", intRange(1, math.MaxInt32)},
	{"preallocate", "false", ConfigBoolean, "Accepted for Kafka compatibility; Strata does not preallocate segment files.", oneOf("true", "false")},
	{"producer.id.expiration.ms", "86400000", ConfigInt, "Time after its last batch's timestamp that an idempotent producer's sequence state is kept for deduplication.", intRange(1, math.MaxInt32)},
	{"remote.log.copy.disable", "false", ConfigBoolean, "Accepted for Kafka compatibility (KIP-950); Strata tiers while remote.storage.enable is true.", oneOf("true", "false")},
	{"remote.log.delete.on.disable", "false", ConfigBoolean, "Accepted for Kafka compatibility (KIP-950); turning remote storage off keeps the tiered files.", oneOf("true", "false")},
	{"remote.storage.enable", "true", ConfigBoolean, "Tier sealed segments to the object store as Parquet (the cold tier); local segments are then deleted only once tiered.", oneOf("true", "false")},
	{"retention.bytes", "-1", ConfigLong, "Largest size of a partition before old segments are deleted; -1 = unlimited.", intRange(-1, math.MaxInt64)},
	{"retention.ms", strconv.FormatInt(week.Milliseconds(), 10), ConfigLong, "Age after which old segments are deleted; -1 = unlimited.", intRange(-1, math.MaxInt64)},
	{"segment.bytes", strconv.Itoa(DefaultSegmentBytes), ConfigInt, "Size at which the active segment is rolled.", intRange(14, math.MaxInt32)},
	{"segment.index.bytes", "10485760", ConfigInt, "Accepted for Kafka compatibility; Strata's segment indexes grow as needed.", intRange(4, math.MaxInt32)},
	{"segment.jitter.ms", "0", ConfigLong, "Accepted for Kafka compatibility; Strata rolls segments at segment.ms exactly.", intRange(0, math.MaxInt64)},
	{"segment.ms", strconv.FormatInt(week.Milliseconds(), 10), ConfigLong, "Age at which the active segment is rolled.", intRange(1, math.MaxInt64)},
	{"strata.iceberg.enable", "true", ConfigBoolean, "With remote storage: the topic is an Iceberg v2 table whose data files are the tiered Parquet files (docs/iceberg.md); false leaves the files and Fetch as they are and stops committing.", oneOf("true", "false")},
	{"strata.iceberg.snapshot.retention.ms", strconv.FormatInt(DefaultIcebergSnapshotRetentionMs, 10), ConfigLong, "Iceberg snapshots older than this (except the current one) expire at the next commit; their manifest lists, manifests and metadata files are deleted.", intRange(1, math.MaxInt64)},
	{"strata.typed.columns", "true", ConfigBoolean, "With remote storage: tiered Parquet files also hold each value decoded by the schema registry's latest <topic>-value schema, as typed columns (docs/format/parquet.md); false writes the raw columns only.", oneOf("true", "false")},
	{"strata.tier.max.lag.ms", strconv.FormatInt(DefaultTierMaxLagMs, 10), ConfigLong, "The active segment is rolled (and so tiered) once it has held records this long; 0 = only segment.bytes/segment.ms roll.", intRange(0, math.MaxInt64)},
	{"strata.tier.target.file.bytes", strconv.FormatInt(DefaultTierTargetFileBytes, 10), ConfigLong, "Small tiered Parquet files of a partition are merged toward this size; 0 = no merging.", intRange(0, math.MaxInt64)},
	{"unclean.leader.election.enable", "false", ConfigBoolean, "Accepted for Kafka compatibility; Strata elects only in-sync replicas unless ElectLeaders asks for an unclean election.", oneOf("true", "false")},
}

// Tiering defaults (DESIGN.md, "Cold tier").
const (
	DefaultTierMaxLagMs        = 10 * 60 * 1000
	DefaultTierTargetFileBytes = 128 << 20
	// DefaultIcebergSnapshotRetentionMs is 3 hours.
	DefaultIcebergSnapshotRetentionMs = 3 * 60 * 60 * 1000
)

func lookupConfigDef(name string) (topicConfigDef, bool) {
	for _, d := range topicConfigDefs {
		if d.name == name {
			return d, true
		}
	}
	return topicConfigDef{}, false
}

// ValidateTopicConfigs checks explicit topic configs; the error wraps
// kerr.InvalidConfig so clients receive INVALID_CONFIG with the reason.
func ValidateTopicConfigs(configs map[string]string) error {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d, ok := lookupConfigDef(n)
		if !ok {
			return fmt.Errorf("%w: unknown topic config %q", kerr.InvalidConfig, n)
		}
		if err := d.isValid(configs[n]); err != nil {
			return fmt.Errorf("%w: %s: %v", kerr.InvalidConfig, n, err)
		}
	}
	if c := resolveTopicConfig(configs); c.MinCompactionLagMs > c.MaxCompactionLagMs {
		// Kafka's LogConfig.validateValues.
		return fmt.Errorf("%w: conflict topic config setting max.compaction.lag.ms (%d) < min.compaction.lag.ms (%d)",
			kerr.InvalidConfig, c.MaxCompactionLagMs, c.MinCompactionLagMs)
	}
	return nil
}

// TopicConfig is a topic's effective configuration: its explicit configs
// laid over the defaults, parsed.
type TopicConfig struct {
	SegmentBytes       int64
	SegmentMs          int64
	RetentionMs        int64
	RetentionBytes     int64
	MaxMessageBytes    int32
	IndexIntervalBytes int32
	FlushMessages      int64
	FlushMs            int64
	MinInsyncReplicas  int32
	LogAppendTime      bool
	// TimestampBeforeMaxMs, TimestampAfterMaxMs bound a CreateTime
	// record's timestamp around the broker's clock (math.MaxInt64: none).
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// Compression is the codec batches are stored in; -1: as the producer
	// sent them (compression.type=producer).
	Compression int8
	// ProducerIDExpirationMs: idle producers' deduplication state is
	// dropped after this long.
	ProducerIDExpirationMs int64
	// Tiering (KIP-405 names): local retention resolved (-2 replaced by
	// retention.*), whether the topic is tiered, and Strata's tier knobs.
	RemoteStorageEnable bool
	LocalRetentionMs    int64
	LocalRetentionBytes int64
	TierMaxLagMs        int64
	TierTargetFileBytes int64
	// Compaction (cleanup.policy and Kafka's cleaner configs). Without
	// delete in the policy, RetentionMs and RetentionBytes are -1 (and so
	// local retention's defaults): Kafka applies them only with delete.
	Compact, Delete        bool
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	DeleteRetentionMs      int64
	// Iceberg: whether the topic's Iceberg table follows its tier
	// manifests, and how long its snapshots are kept.
	IcebergEnable              bool
	IcebergSnapshotRetentionMs int64
	// TypedColumns is strata.typed.columns.
	TypedColumns bool
}

func resolveTopicConfig(explicit map[string]string) TopicConfig {
	get := func(name string) int64 {
		v, ok := explicit[name]
		if !ok {
			d, _ := lookupConfigDef(name)
			v = d.def
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	ts := explicit["message.timestamp.type"]
	policy, ok := explicit["cleanup.policy"]
	if !ok {
		policy = "delete"
	}
	compact, del := parsePolicy(policy)
	retMs, retBytes := get("retention.ms"), get("retention.bytes")
	if !del {
		retMs, retBytes = -1, -1
	}
	localMs, localBytes := get("local.retention.ms"), get("local.retention.bytes")
	if localMs == -2 {
		localMs = retMs
	}
	if localBytes == -2 {
		localBytes = retBytes
	}
	dirty, err := strconv.ParseFloat(explicit["min.cleanable.dirty.ratio"], 64)
	if err != nil {
		dirty = 0.5
	}
	remote := explicit["remote.storage.enable"]
	return TopicConfig{
		SegmentBytes:       get("segment.bytes"),
		SegmentMs:          get("segment.ms"),
		RetentionMs:        retMs,
		RetentionBytes:     retBytes,
		MaxMessageBytes:    int32(get("max.message.bytes")),
		IndexIntervalBytes: int32(get("index.interval.bytes")),
		FlushMessages:      get("flush.messages"),
		FlushMs:            get("flush.ms"),
		MinInsyncReplicas:  int32(get("min.insync.replicas")),
		LogAppendTime:      ts == "LogAppendTime",

		TimestampBeforeMaxMs: timestampBound(explicit, "message.timestamp.before.max.ms", get),
		TimestampAfterMaxMs:  timestampBound(explicit, "message.timestamp.after.max.ms", get),
		Compression:          compressionCodec(explicit["compression.type"]),

		ProducerIDExpirationMs: get("producer.id.expiration.ms"),

		RemoteStorageEnable: remote == "" || remote == "true",
		LocalRetentionMs:    localMs,
		LocalRetentionBytes: localBytes,
		TierMaxLagMs:        get("strata.tier.max.lag.ms"),
		TierTargetFileBytes: get("strata.tier.target.file.bytes"),

		Compact:                    compact,
		Delete:                     del,
		MinCleanableDirtyRatio:     dirty,
		MinCompactionLagMs:         get("min.compaction.lag.ms"),
		MaxCompactionLagMs:         get("max.compaction.lag.ms"),
		DeleteRetentionMs:          get("delete.retention.ms"),
		IcebergEnable:              explicit["strata.iceberg.enable"] != "false",
		IcebergSnapshotRetentionMs: get("strata.iceberg.snapshot.retention.ms"),
		TypedColumns:               explicit["strata.typed.columns"] != "false",
	}
}

// timestampBound is message.timestamp.before/after.max.ms, or, when not
// set, the deprecated message.timestamp.difference.max.ms (Kafka's
// fallback, KIP-937).
func timestampBound(explicit map[string]string, name string, get func(string) int64) int64 {
	if _, ok := explicit[name]; !ok {
		if _, ok := explicit["message.timestamp.difference.max.ms"]; ok {
			return get("message.timestamp.difference.max.ms")
		}
	}
	return get(name)
}

// compressionCodec is compression.type as a recordbatch codec number, -1
// for producer (or unset).
func compressionCodec(s string) int8 {
	switch s {
	case "uncompressed":
		return 0
	case "gzip":
		return 1
	case "snappy":
		return 2
	case "lz4":
		return 3
	case "zstd":
		return 4
	}
	return -1
}

// ConfigEntry is one row of DescribeConfigs.
type ConfigEntry struct {
	Name      string
	Value     string
	Default   bool // true when no explicit topic config overrides it
	ReadOnly  bool
	Type      ConfigType
	Doc       string
	Sensitive bool
	Source    ConfigSource // SourceUnknown: derived from Default and ReadOnly
	// Synonyms are the places the value may come from, the one in force
	// first (DescribeConfigs include_synonyms); nil: the entry alone.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one source of a config's value.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source ConfigSource
}

func describeTopicConfigs(explicit map[string]string) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		e := ConfigEntry{Name: d.name, Value: d.def, Default: true, Type: d.typ, Doc: d.doc}
		if v, ok := explicit[d.name]; ok {
			e.Value, e.Default = v, false
		}
		out = append(out, e)
	}
	return out
}

// ConfigOp is an IncrementalAlterConfigs operation.
type ConfigOp int8

const (
	OpSet      ConfigOp = 0
	OpDelete   ConfigOp = 1
	OpAppend   ConfigOp = 2
	OpSubtract ConfigOp = 3
)

// ConfigChange is one requested change to a topic's explicit configs.
type ConfigChange struct {
	Name  string
	Value *string
	Op    ConfigOp
}

// applyConfigChanges returns the explicit configs after changes. With
// replace (legacy AlterConfigs) the changes become the whole set.
func applyConfigChanges(current map[string]string, changes []ConfigChange, replace bool) (map[string]string, error) {
	next := make(map[string]string, len(current))
	if !replace {
		for k, v := range current {
			next[k] = v
		}
	}
	for _, c := range changes {
		if _, ok := lookupConfigDef(c.Name); !ok {
			return nil, fmt.Errorf("%w: unknown topic config %q", kerr.InvalidConfig, c.Name)
		}
		switch c.Op {
		case OpSet:
			if c.Value == nil {
				return nil, fmt.Errorf("%w: %s: null value", kerr.InvalidConfig, c.Name)
			}
			next[c.Name] = *c.Value
		case OpDelete:
			delete(next, c.Name)
		case OpAppend, OpSubtract:
			d, _ := lookupConfigDef(c.Name)
			if d.typ != ConfigList {
				return nil, fmt.Errorf("%w: %s is not a list config", kerr.InvalidConfig, c.Name)
			}
			if c.Value == nil {
				return nil, fmt.Errorf("%w: %s: null value", kerr.InvalidConfig, c.Name)
			}
			next[c.Name] = editList(next[c.Name], *c.Value, c.Op == OpAppend)
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d", kerr.InvalidRequest, c.Op)
		}
	}
	if err := ValidateTopicConfigs(next); err != nil {
		return nil, err
	}
	return next, nil
}

func editList(list, items string, add bool) string {
	var out []string
	has := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
			has[s] = true
		}
	}
	for _, s := range strings.Split(items, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case add && !has[s]:
			out = append(out, s)
			has[s] = true
		case !add && has[s]:
			for i, o := range out {
				if o == s {
					out = append(out[:i], out[i+1:]...)
					break
				}
			}
			delete(has, s)
		}
	}
	return strings.Join(out, ",")
}
