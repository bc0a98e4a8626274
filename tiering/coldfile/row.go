package coldfile

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// FormatVersion is the version of the Parquet layout below, written to each
// file's key-value metadata (strata.format.version) and to its manifest
// entry. Readers refuse files with a higher version.
const FormatVersion = 1

// ErrCorrupt is wrapped by errors about bytes that do not decode (a damaged
// object, or a file that is not a cold-tier file).
var ErrCorrupt = errors.New("tiering: corrupt data")

// Column names of the schema (Row's parquet tags say the same).
const (
	ColOffset          = "offset"
	ColTimestamp       = "timestamp"
	ColKey             = "key"
	ColValue           = "value"
	ColHeaders         = "headers"
	ColProducerID      = "producer_id"
	ColProducerEpoch   = "producer_epoch"
	ColSequence        = "sequence"
	ColIsTransactional = "is_transactional"
	ColIsControl       = "is_control"
	ColAborted         = "aborted"
	ColPartition       = "partition"
	ColLeaderEpoch     = "leader_epoch"
	ColTimestampType   = "timestamp_type"
)

// Row is one record of a tiered partition: one Parquet row. The field ids
// (id(n)) are what an Iceberg table maps columns by; they never change
// meaning and are never reused (docs/format/parquet.md lists them).
type Row struct {
	Offset          int64    `parquet:"offset,id(1),delta"`
	Timestamp       int64    `parquet:"timestamp,id(2),timestamp(millisecond),delta"`
	Key             []byte   `parquet:"key,id(3),optional"`
	Value           []byte   `parquet:"value,id(4),optional"`
	Headers         []Header `parquet:"headers,id(5),list" parquet-element:",id(15)"`
	ProducerID      int64    `parquet:"producer_id,id(6)"`
	ProducerEpoch   int16    `parquet:"producer_epoch,id(7)"`
	Sequence        int32    `parquet:"sequence,id(8)"`
	IsTransactional bool     `parquet:"is_transactional,id(9)"`
	IsControl       bool     `parquet:"is_control,id(10)"`
	Aborted         bool     `parquet:"aborted,id(11)"`
	Partition       int32    `parquet:"partition,id(12)"`
	// LeaderEpoch is the partitionLeaderEpoch of the record's batch.
	LeaderEpoch int32 `parquet:"leader_epoch,id(13)"`
	// TimestampType is 0 for CreateTime, 1 for LogAppendTime (the broker's
	// clock; Timestamp is then the batch's maxTimestamp).
	TimestampType int8 `parquet:"timestamp_type,id(14)"`
}

// Header is one record header.
type Header struct {
	Key   string `parquet:"key,id(16)"`
	Value []byte `parquet:"value,id(17),optional"`
}

// Schema is the Parquet schema of Row.
var Schema = parquet.SchemaOf(Row{})

// DiffRows says how two rows differ, or nil if they are the same. A null
// key, value or header value differs from an empty one, as in Kafka.
func DiffRows(a, b Row) error {
	if (a.Key == nil) != (b.Key == nil) || !bytes.Equal(a.Key, b.Key) {
		return fmt.Errorf("offset %d: key %q (nil %v) vs %q (nil %v)", a.Offset, a.Key, a.Key == nil, b.Key, b.Key == nil)
	}
	if (a.Value == nil) != (b.Value == nil) || !bytes.Equal(a.Value, b.Value) {
		return fmt.Errorf("offset %d: value differs (nil %v vs %v, len %d vs %d)", a.Offset, a.Value == nil, b.Value == nil, len(a.Value), len(b.Value))
	}
	if len(a.Headers) != len(b.Headers) {
		return fmt.Errorf("offset %d: %d headers vs %d", a.Offset, len(a.Headers), len(b.Headers))
	}
	for i := range a.Headers {
		ha, hb := a.Headers[i], b.Headers[i]
		if ha.Key != hb.Key || (ha.Value == nil) != (hb.Value == nil) || !bytes.Equal(ha.Value, hb.Value) {
			return fmt.Errorf("offset %d: header %d %+v vs %+v", a.Offset, i, ha, hb)
		}
	}
	a.Key, a.Value, a.Headers = nil, nil, nil
	b.Key, b.Value, b.Headers = nil, nil, nil
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("row differs:\n %+v\n %+v", a, b)
	}
	return nil
}
