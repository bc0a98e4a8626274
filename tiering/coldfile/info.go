package coldfile

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/stratalog/strata/meta"
)

// Key-value metadata written to every tier file's footer.
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

// keyValues is the footer metadata of a file with this info.
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
