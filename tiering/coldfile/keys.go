package coldfile

import (
	"fmt"
	"strconv"
	"strings"
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
