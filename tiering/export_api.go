package tiering

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// RowWriter writes Rows to a Parquet file with the cold tier's schema and
// writer settings (zstd, statistics on every column, row groups of about
// rowGroupBytes), for files that are not tier objects: `strata export`
// writes rows of several partitions into one file. Offsets need not
// increase across partitions; no strata.* tier metadata is written unless
// given to Close.
type RowWriter struct {
	w       *parquet.GenericWriter[Row]
	rgBytes int64
	rgLimit int64
	prs     []parquet.Row
}

// NewRowWriter writes to out; rowGroupBytes <= 0 means DefaultRowGroupBytes.
func NewRowWriter(out io.Writer, rowGroupBytes int64) *RowWriter {
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultRowGroupBytes
	}
	w := parquet.NewGenericWriter[Row](out,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("strata", "", ""),
		parquet.PageBufferSize(256<<10),
	)
	return &RowWriter{w: w, rgLimit: rowGroupBytes}
}

// Write appends rows (through Deconstruct and WriteRows, as the tierer
// does, so that null and empty byte arrays stay apart).
func (rw *RowWriter) Write(rows []Row) error {
	flush := func(endGroup bool) error {
		if len(rw.prs) > 0 {
			if _, err := rw.w.WriteRows(rw.prs); err != nil {
				return fmt.Errorf("write parquet rows: %w", err)
			}
		}
		clear(rw.prs)
		rw.prs = rw.prs[:0]
		if endGroup {
			if err := rw.w.Flush(); err != nil {
				return fmt.Errorf("write parquet row group: %w", err)
			}
			rw.rgBytes = 0
		}
		return nil
	}
	for i := range rows {
		rw.prs = append(rw.prs, rowSchema.Deconstruct(nil, &rows[i]))
		rw.rgBytes += rowBytes(&rows[i])
		if rw.rgBytes >= rw.rgLimit {
			if err := flush(true); err != nil {
				return err
			}
		}
	}
	return flush(false)
}

// Close writes the footer, with kv as key-value metadata.
func (rw *RowWriter) Close(kv map[string]string) error {
	for k, v := range kv {
		rw.w.SetKeyValueMetadata(k, v)
	}
	if err := rw.w.Close(); err != nil {
		return fmt.Errorf("close parquet file: %w", err)
	}
	return nil
}
