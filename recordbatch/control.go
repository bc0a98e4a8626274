package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// ControlType is what a control record marks.
type ControlType int16

// The control record types Kafka writes: the end of a transaction.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// ControlRecord is the one record of a control batch (attributes bit 5): a
// transaction marker. Its key is a version (0) and the type, both int16;
// its value a version (0) and the coordinator epoch (int32) of the
// transaction coordinator that wrote it.
type ControlRecord struct {
	KeyVersion       int16
	Type             ControlType
	ValueVersion     int16
	CoordinatorEpoch int32
}

const (
	controlKeySize   = 4
	controlValueSize = 6
)

// ParseControlRecord decodes a control record's key and value. As in Kafka,
// a negative version is ErrInvalid and a later version is read by its
// version 0 fields (later versions may only append); a commit or abort
// marker's value must hold them.
func ParseControlRecord(key, value []byte) (ControlRecord, error) {
	if len(key) < controlKeySize {
		return ControlRecord{}, fmt.Errorf("%w: control record key of %d bytes", ErrInvalid, len(key))
	}
	be := binary.BigEndian
	c := ControlRecord{KeyVersion: int16(be.Uint16(key)), Type: ControlType(be.Uint16(key[2:]))}
	if c.KeyVersion < 0 {
		return ControlRecord{}, fmt.Errorf("%w: control record key version %d", ErrInvalid, c.KeyVersion)
	}
	if c.Type != ControlAbort && c.Type != ControlCommit {
		return c, nil // a type this broker does not know; Kafka skips them
	}
	if len(value) < controlValueSize {
		return ControlRecord{}, fmt.Errorf("%w: transaction marker value of %d bytes", ErrInvalid, len(value))
	}
	c.ValueVersion = int16(be.Uint16(value))
	if c.ValueVersion < 0 {
		return ControlRecord{}, fmt.Errorf("%w: transaction marker value version %d", ErrInvalid, c.ValueVersion)
	}
	c.CoordinatorEpoch = int32(be.Uint32(value[2:]))
	return c, nil
}

// Key encodes the control record's key.
func (c ControlRecord) Key() []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(c.KeyVersion)), uint16(c.Type))
}

// Value encodes a transaction marker's value.
func (c ControlRecord) Value() []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(c.ValueVersion)), uint32(c.CoordinatorEpoch))
}

// AppendControlBatch appends a transaction marker batch to dst: one
// control record c, attributes transactional and control, the producer's
// id and epoch, no sequence (-1), both timestamps ts, as Kafka's
// MemoryRecords.withEndTransactionMarker builds it. Base offset and leader
// epoch are 0; the log assigns them.
func AppendControlBatch(dst []byte, producerID int64, producerEpoch int16, c ControlRecord, ts int64) []byte {
	rec := AppendRecord(nil, 0, 0, c.Key(), c.Value(), nil)
	h := Header{
		PartitionLeaderEpoch: -1,
		Attributes:           NewAttributes(CodecNone, CreateTime, true, true),
		BaseTimestamp:        ts,
		MaxTimestamp:         ts,
		ProducerID:           producerID,
		ProducerEpoch:        producerEpoch,
		BaseSequence:         -1,
		NumRecords:           1,
	}
	return AppendBatch(dst, h, rec)
}

// ParseControlBatch returns the control record of one whole control batch
// (header h, bytes batch). A control batch holds exactly one record (Kafka
// refuses others); anything else is ErrInvalid, damage ErrCorrupt.
func ParseControlBatch(h Header, batch []byte) (ControlRecord, error) {
	if !h.IsControl() {
		return ControlRecord{}, fmt.Errorf("%w: not a control batch", ErrInvalid)
	}
	if h.NumRecords != 1 {
		return ControlRecord{}, fmt.Errorf("%w: control batch of %d records", ErrInvalid, h.NumRecords)
	}
	var c ControlRecord
	err := Records(h, batch, controlMaxDecompressed, func(r *Record) error {
		var err error
		c, err = ParseControlRecord(r.Key, r.Value)
		return err
	})
	return c, err
}

// controlMaxDecompressed bounds a (compressed) control batch: one record
// of a few bytes, later versions may append fields.
const controlMaxDecompressed = 1 << 16
