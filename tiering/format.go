package tiering

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/stratalog/strata/meta"
)

// FormatVersion is the version of the Parquet layout below, written to each
// file's key-value metadata (strata.format.version) and to its manifest
// entry. Readers refuse files with a higher version.
const FormatVersion = 1

// Row is one record of a tiered partition: one Parquet row. The layout is
// documented in docs/format/parquet.md; keep both in step.
type Row struct {
	Offset          int64    `parquet:"offset,delta"`
	Timestamp       int64    `parquet:"timestamp,timestamp(millisecond),delta"`
	Key             []byte   `parquet:"key,optional"`
	Value           []byte   `parquet:"value,optional"`
	Headers         []Header `parquet:"headers,list"`
	ProducerID      int64    `parquet:"producer_id"`
	ProducerEpoch   int16    `parquet:"producer_epoch"`
	Sequence        int32    `parquet:"sequence"`
	IsTransactional bool     `parquet:"is_transactional"`
	IsControl       bool     `parquet:"is_control"`
	Aborted         bool     `parquet:"aborted"`
	Partition       int32    `parquet:"partition"`
	// LeaderEpoch is the partitionLeaderEpoch of the record's batch.
	LeaderEpoch int32 `parquet:"leader_epoch"`
	// TimestampType is 0 for CreateTime, 1 for LogAppendTime (the broker's
	// clock; Timestamp is then the batch's maxTimestamp).
	TimestampType int8 `parquet:"timestamp_type"`
}

// Header is one record header.
type Header struct {
	Key   string `parquet:"key"`
	Value []byte `parquet:"value,optional"`
}

// Key-value metadata written to every file's footer.
const (
	kvFormatVersion = "strata.format.version"
	kvTopic         = "strata.topic"
	kvTopicID       = "strata.topic.id"
	kvPartition     = "strata.partition"
	kvBaseOffset    = "strata.base.offset"
	kvLastOffset    = "strata.last.offset"
	kvRecords       = "strata.records"
	kvMinTimestamp  = "strata.min.timestamp"
	kvMaxTimestamp  = "strata.max.timestamp"
	kvLeaderEpochs  = "strata.leader.epochs"
	kvLogBytes      = "strata.log.bytes"
)

// ObjectKey is the key of the object that holds offsets [base, last] of a
// partition, relative to the store's prefix:
// topic=<topic>/partition=<p>/<base, 20 digits>-<last, 20 digits>.parquet.
func ObjectKey(topic string, partition int32, base, last int64) string {
	return fmt.Sprintf("%s%020d-%020d.parquet", PartitionPrefix(topic, partition), base, last)
}

// TopicPrefix is "topic=<topic>/".
func TopicPrefix(topic string) string { return "topic=" + topic + "/" }

// PartitionPrefix is "topic=<topic>/partition=<p>/".
func PartitionPrefix(topic string, partition int32) string {
	return fmt.Sprintf("%spartition=%d/", TopicPrefix(topic), partition)
}

// ParseObjectKey reverses ObjectKey.
func ParseObjectKey(key string) (topic string, partition int32, base, last int64, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return "", 0, 0, 0, false
	}
	topic, ok1 := strings.CutPrefix(parts[0], "topic=")
	ps, ok2 := strings.CutPrefix(parts[1], "partition=")
	name, ok3 := strings.CutSuffix(parts[2], ".parquet")
	if !ok1 || !ok2 || !ok3 || topic == "" {
		return "", 0, 0, 0, false
	}
	p, err := strconv.ParseInt(ps, 10, 32)
	if err != nil || p < 0 {
		return "", 0, 0, 0, false
	}
	bs, ls, ok4 := strings.Cut(name, "-")
	if !ok4 || len(bs) != 20 || len(ls) != 20 {
		return "", 0, 0, 0, false
	}
	b, err1 := strconv.ParseInt(bs, 10, 64)
	l, err2 := strconv.ParseInt(ls, 10, 64)
	if err1 != nil || err2 != nil || b < 0 || l < b {
		return "", 0, 0, 0, false
	}
	return topic, int32(p), b, l, true
}

// FileInfo describes what one Parquet file holds: its key-value metadata,
// and (with the object's key and size) the manifest entry.
type FileInfo struct {
	Topic        string
	TopicID      [16]byte
	Partition    int32
	BaseOffset   int64
	LastOffset   int64
	Records      int64
	LogBytes     int64
	MinTimestamp int64
	MaxTimestamp int64
	LeaderEpochs []meta.TierEpoch
}

func encodeTopicID(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func (fi FileInfo) keyValues() map[string]string {
	epochs, _ := json.Marshal(fi.LeaderEpochs)
	kv := map[string]string{
		kvFormatVersion: strconv.Itoa(FormatVersion),
		kvTopic:         fi.Topic,
		kvPartition:     strconv.Itoa(int(fi.Partition)),
		kvBaseOffset:    strconv.FormatInt(fi.BaseOffset, 10),
		kvLastOffset:    strconv.FormatInt(fi.LastOffset, 10),
		kvRecords:       strconv.FormatInt(fi.Records, 10),
		kvMinTimestamp:  strconv.FormatInt(fi.MinTimestamp, 10),
		kvMaxTimestamp:  strconv.FormatInt(fi.MaxTimestamp, 10),
		kvLeaderEpochs:  string(epochs),
		kvLogBytes:      strconv.FormatInt(fi.LogBytes, 10),
	}
	if id := encodeTopicID(fi.TopicID); id != "" {
		kv[kvTopicID] = id
	}
	return kv
}

// Segment is the manifest entry for a file with this info stored at key.
func (fi FileInfo) Segment(key string, size int64, etag string) meta.TierSegment {
	return meta.TierSegment{
		Topic: fi.Topic, Partition: fi.Partition, TopicID: encodeTopicID(fi.TopicID),
		BaseOffset: fi.BaseOffset, LastOffset: fi.LastOffset, Records: fi.Records,
		Object: key, Size: size, ETag: etag, LogBytes: fi.LogBytes,
		MinTimestamp: fi.MinTimestamp, MaxTimestamp: fi.MaxTimestamp,
		LeaderEpochs: fi.LeaderEpochs, Format: FormatVersion,
	}
}
