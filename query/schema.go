package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Column names of the Arrow schema: the cold tier's Parquet column names.
const (
	ColOffset          = coldfile.ColOffset
	ColTimestamp       = coldfile.ColTimestamp
	ColKey             = coldfile.ColKey
	ColValue           = coldfile.ColValue
	ColHeaders         = coldfile.ColHeaders
	ColProducerID      = coldfile.ColProducerID
	ColProducerEpoch   = coldfile.ColProducerEpoch
	ColSequence        = coldfile.ColSequence
	ColIsTransactional = coldfile.ColIsTransactional
	ColIsControl       = coldfile.ColIsControl
	ColAborted         = coldfile.ColAborted
	ColPartition       = coldfile.ColPartition
	ColLeaderEpoch     = coldfile.ColLeaderEpoch
	ColTimestampType   = coldfile.ColTimestampType
)

// HeaderType is the Arrow type of one header.
var HeaderType = arrow.StructOf(
	arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
)

var allFields = []arrow.Field{
	{Name: ColOffset, Type: arrow.PrimitiveTypes.Int64},
	{Name: ColTimestamp, Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: ColKey, Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: ColValue, Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: ColHeaders, Type: arrow.ListOf(HeaderType)},
	{Name: ColProducerID, Type: arrow.PrimitiveTypes.Int64},
	{Name: ColProducerEpoch, Type: arrow.PrimitiveTypes.Int16},
	{Name: ColSequence, Type: arrow.PrimitiveTypes.Int32},
	{Name: ColIsTransactional, Type: arrow.FixedWidthTypes.Boolean},
	{Name: ColIsControl, Type: arrow.FixedWidthTypes.Boolean},
	{Name: ColAborted, Type: arrow.FixedWidthTypes.Boolean},
	{Name: ColPartition, Type: arrow.PrimitiveTypes.Int32},
	{Name: ColLeaderEpoch, Type: arrow.PrimitiveTypes.Int32},
	{Name: ColTimestampType, Type: arrow.PrimitiveTypes.Int8},
}

// Schema is the full Arrow schema of a topic range: the cold tier's
// columns, in the cold tier's order.
func Schema() *arrow.Schema { return arrow.NewSchema(allFields, nil) }

// ProjectedSchema is Schema limited to columns (nil: all), in schema order.
func ProjectedSchema(columns []string) (*arrow.Schema, error) {
	if len(columns) == 0 {
		return Schema(), nil
	}
	want := map[string]bool{}
	for _, c := range columns {
		want[c] = true
	}
	var fs []arrow.Field
	for _, f := range allFields {
		if want[f.Name] {
			fs = append(fs, f)
			delete(want, f.Name)
		}
	}
	for c := range want {
		return nil, fmt.Errorf("unknown column %q", c)
	}
	return arrow.NewSchema(fs, nil), nil
}

// recordBuilder turns rows into Arrow records of a (projected) schema.
type recordBuilder struct {
	schema *arrow.Schema
	b      *array.RecordBuilder
	fill   []func(*coldfile.Row)
}

func newRecordBuilder(mem memory.Allocator, schema *arrow.Schema) *recordBuilder {
	rb := &recordBuilder{schema: schema, b: array.NewRecordBuilder(mem, schema)}
	for i, f := range schema.Fields() {
		fb := rb.b.Field(i)
		var fn func(*coldfile.Row)
		switch f.Name {
		case ColOffset:
			b := fb.(*array.Int64Builder)
			fn = func(r *coldfile.Row) { b.Append(r.Offset) }
		case ColTimestamp:
			b := fb.(*array.TimestampBuilder)
			fn = func(r *coldfile.Row) { b.Append(arrow.Timestamp(r.Timestamp)) }
		case ColKey:
			b := fb.(*array.BinaryBuilder)
			fn = func(r *coldfile.Row) { appendBytes(b, r.Key) }
		case ColValue:
			b := fb.(*array.BinaryBuilder)
			fn = func(r *coldfile.Row) { appendBytes(b, r.Value) }
		case ColHeaders:
			b := fb.(*array.ListBuilder)
			sb := b.ValueBuilder().(*array.StructBuilder)
			kb := sb.FieldBuilder(0).(*array.StringBuilder)
			vb := sb.FieldBuilder(1).(*array.BinaryBuilder)
			fn = func(r *coldfile.Row) {
				b.Append(true)
				for _, h := range r.Headers {
					sb.Append(true)
					kb.Append(h.Key)
					appendBytes(vb, h.Value)
				}
			}
		case ColProducerID:
			b := fb.(*array.Int64Builder)
			fn = func(r *coldfile.Row) { b.Append(r.ProducerID) }
		case ColProducerEpoch:
			b := fb.(*array.Int16Builder)
			fn = func(r *coldfile.Row) { b.Append(r.ProducerEpoch) }
		case ColSequence:
			b := fb.(*array.Int32Builder)
			fn = func(r *coldfile.Row) { b.Append(r.Sequence) }
		case ColIsTransactional:
			b := fb.(*array.BooleanBuilder)
			fn = func(r *coldfile.Row) { b.Append(r.IsTransactional) }
		case ColIsControl:
			b := fb.(*array.BooleanBuilder)
			fn = func(r *coldfile.Row) { b.Append(r.IsControl) }
		case ColAborted:
			b := fb.(*array.BooleanBuilder)
			fn = func(r *coldfile.Row) { b.Append(r.Aborted) }
		case ColPartition:
			b := fb.(*array.Int32Builder)
			fn = func(r *coldfile.Row) { b.Append(r.Partition) }
		case ColLeaderEpoch:
			b := fb.(*array.Int32Builder)
			fn = func(r *coldfile.Row) { b.Append(r.LeaderEpoch) }
		case ColTimestampType:
			b := fb.(*array.Int8Builder)
			fn = func(r *coldfile.Row) { b.Append(r.TimestampType) }
		default:
			fn = func(*coldfile.Row) {} // columns filled by others (JSON projection)
		}
		rb.fill = append(rb.fill, fn)
	}
	return rb
}

func appendBytes(b *array.BinaryBuilder, v []byte) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(v)
}

func (rb *recordBuilder) add(r *coldfile.Row) {
	for _, fn := range rb.fill {
		fn(r)
	}
}

// build returns the rows added so far as one record (the caller releases
// it) and resets the builder.
func (rb *recordBuilder) build() arrow.RecordBatch { return rb.b.NewRecordBatch() }

func (rb *recordBuilder) release() { rb.b.Release() }
