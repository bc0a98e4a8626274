package query_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/tiering/coldfile"
)

// readColdWithParquetGo reads every cold-tier file of the topic with
// parquet-go alone (the floor any export of the same data pays).
func readColdWithParquetGo(b *testing.B, dir, topic string) (rows, bytes int64) {
	err := filepath.Walk(filepath.Join(dir, "topic="+topic), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		r := parquet.NewGenericReader[coldfile.Row](f)
		buf := make([]coldfile.Row, 256)
		for {
			clear(buf)
			n, err := r.Read(buf)
			for i := 0; i < n; i++ {
				rows++
				bytes += int64(len(buf[i].Key) + len(buf[i].Value))
				for _, h := range buf[i].Headers {
					bytes += int64(len(h.Key) + len(h.Value))
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return rows, bytes
}

// BenchmarkExportParquet exports a fully tiered topic to Parquet (scan from
// the object store, Arrow-free row path, Parquet writer) and reports
// records/s and MB/s, and the ratio to reading the same cold files with
// parquet-go alone (parquet_go_ratio = export speed / parquet-go speed).
func BenchmarkExportParquet(b *testing.B) {
	e := startEnv(b)
	const topic = "bench"
	e.createTieredTopic(topic, 1)
	val := func(i int) []byte { return []byte(strings.Repeat("x", 150) + textValueString(i)) }
	e.produce(topic, 1, 20000, 0, val)
	e.waitCold(topic, 1, 19000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := query.NewPlanner(query.Config{Client: e.cl, Bucket: e.bucket})

	// Baseline: best of three passes of parquet-go over the cold files.
	var base time.Duration
	var baseRows int64
	for i := 0; i < 3; i++ {
		st := time.Now()
		baseRows, _ = readColdWithParquetGo(b, e.objects, topic)
		if d := time.Since(st); base == 0 || d < base {
			base = d
		}
	}
	b.ResetTimer()
	var rows, bytes int64
	for i := 0; i < b.N; i++ {
		p, err := q.Plan(ctx, query.AllOffsets(topic))
		if err != nil {
			b.Fatal(err)
		}
		s, err := q.Scan(ctx, p, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := query.Export(s, io.Discard, query.ExportOptions{Format: query.FormatParquet})
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows += st.Rows
		bytes += st.Bytes
	}
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)/el, "records/s")
	b.ReportMetric(float64(bytes)/1e6/el, "MB/s")
	baseRate := float64(baseRows) / base.Seconds()
	b.ReportMetric(baseRate, "parquet_go_records/s")
	b.ReportMetric(float64(rows)/el/baseRate, "parquet_go_ratio")
}

func textValueString(i int) string { return string(textValue(i)) }
