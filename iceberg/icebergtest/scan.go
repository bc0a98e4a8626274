// Package icebergtest reads Strata's Iceberg tables back in tests the way
// an engine does: iceberg-go's scan to Arrow, decoded into cold-file rows.
package icebergtest

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Scan reads every row the scan returns, sorted by partition and offset.
// Only the record columns are decoded (offset, partition, timestamp, key,
// value, headers, leader_epoch); producer fields are left zero.
func Scan(ctx context.Context, tbl *table.Table, opts ...table.ScanOption) ([]coldfile.Row, error) {
	at, err := tbl.Scan(opts...).ToArrowTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer at.Release()
	rdr := array.NewTableReader(at, 4096)
	defer rdr.Release()
	var out []coldfile.Row
	for rdr.Next() {
		rows, err := decode(rdr.RecordBatch())
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func column[T arrow.Array](rec arrow.RecordBatch, name string) (T, error) {
	var zero T
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return zero, fmt.Errorf("scan: no column %s in %s", name, rec.Schema())
	}
	a, ok := rec.Column(idx[0]).(T)
	if !ok {
		return zero, fmt.Errorf("scan: column %s is %s", name, rec.Column(idx[0]).DataType())
	}
	return a, nil
}

func decode(rec arrow.RecordBatch) ([]coldfile.Row, error) {
	offs, err := column[*array.Int64](rec, "offset")
	if err != nil {
		return nil, err
	}
	parts, err := column[*array.Int32](rec, "partition")
	if err != nil {
		return nil, err
	}
	epochs, err := column[*array.Int32](rec, "leader_epoch")
	if err != nil {
		return nil, err
	}
	keys, err := column[*array.Binary](rec, "key")
	if err != nil {
		return nil, err
	}
	vals, err := column[*array.Binary](rec, "value")
	if err != nil {
		return nil, err
	}
	ts, err := column[*array.Timestamp](rec, "timestamp")
	if err != nil {
		return nil, err
	}
	unit := ts.DataType().(*arrow.TimestampType).Unit
	hdrs, err := column[*array.List](rec, "headers")
	if err != nil {
		return nil, err
	}
	hs, ok := hdrs.ListValues().(*array.Struct)
	if !ok {
		return nil, fmt.Errorf("scan: headers elements are %s", hdrs.ListValues().DataType())
	}
	hk, ok1 := hs.Field(0).(*array.String)
	hv, ok2 := hs.Field(1).(*array.Binary)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("scan: header fields are %s, %s", hs.Field(0).DataType(), hs.Field(1).DataType())
	}
	out := make([]coldfile.Row, 0, rec.NumRows())
	for i := 0; i < int(rec.NumRows()); i++ {
		r := coldfile.Row{Offset: offs.Value(i), Partition: parts.Value(i), LeaderEpoch: epochs.Value(i)}
		switch unit {
		case arrow.Microsecond:
			r.Timestamp = int64(ts.Value(i)) / 1000
		case arrow.Millisecond:
			r.Timestamp = int64(ts.Value(i))
		default:
			return nil, fmt.Errorf("scan: timestamp unit %v", unit)
		}
		if !keys.IsNull(i) {
			r.Key = append([]byte{}, keys.Value(i)...)
		}
		if !vals.IsNull(i) {
			r.Value = append([]byte{}, vals.Value(i)...)
		}
		s, e := hdrs.ValueOffsets(i)
		for j := int(s); j < int(e); j++ {
			h := coldfile.Header{Key: hk.Value(j)}
			if !hv.IsNull(j) {
				h.Value = append([]byte{}, hv.Value(j)...)
			}
			r.Headers = append(r.Headers, h)
		}
		out = append(out, r)
	}
	return out, nil
}

// Contiguous checks that each partition's rows are one run of offsets,
// each once (no duplicate, no gap), and returns each partition's
// [first, end).
func Contiguous(rows []coldfile.Row) (map[int32][2]int64, error) {
	out := map[int32][2]int64{}
	for _, r := range rows {
		span, ok := out[r.Partition]
		switch {
		case !ok:
			out[r.Partition] = [2]int64{r.Offset, r.Offset + 1}
		case r.Offset != span[1]:
			return nil, fmt.Errorf("partition %d: offset %d after %d (a duplicate or a gap)", r.Partition, r.Offset, span[1]-1)
		default:
			out[r.Partition] = [2]int64{span[0], r.Offset + 1}
		}
	}
	return out, nil
}
