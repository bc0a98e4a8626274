package tiering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/tiering/coldfile"
)

// versionedDecoders hands out decoders whose one column is named after
// the current version, so a file tells which version it was written with.
type versionedDecoders struct{ version atomic.Int32 }

type versionDecoder struct{ col string }

func (d versionDecoder) Node() parquet.Node {
	return parquet.Group{d.col: parquet.Optional(parquet.Int(64))}
}

func (d versionDecoder) Decode(v []byte) (any, int32, error) {
	return map[string]any{d.col: int64(len(v))}, 1, nil
}

func (s *versionedDecoders) ValueDecoder(context.Context, string) (coldfile.ValueDecoder, error) {
	return versionDecoder{col: fmt.Sprint("v", s.version.Load())}, nil
}

// typedColumns lists the typed columns (value_typed.*) of each object.
func (e *env) typedColumns(object string) []string {
	e.t.Helper()
	rc, err := e.bucket.Get(testCtx(e.t), object)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		e.t.Fatal(err)
	}
	var cols []string
	for _, path := range f.Schema().Columns() {
		if path[0] == coldfile.ColValueTyped {
			cols = append(cols, path[1])
		}
	}
	return cols
}

// TestTypedColumnsFollowLatestSchema: uploads take the decoder current at
// the time, a merge decodes its files' raw values again with the latest
// one, and TypedColumns=false writes none; the rows read back unchanged.
func TestTypedColumnsFollowLatestSchema(t *testing.T) {
	decs := &versionedDecoders{}
	decs.version.Store(1)
	e := newEnv(t, localBucket(t), func(c *Config) {
		c.Decoders = decs
		c.MergeMinAge = time.Millisecond
	})
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, TypedColumns: true})
	e.produce(400)
	e.start()
	end := e.sealedEnd()
	e.waitTiered(end, 60*time.Second)
	before := e.checkManifest()
	for _, s := range before {
		if cols := e.typedColumns(s.Object); len(cols) != 1 || cols[0] != "v1" {
			t.Fatalf("%s: typed columns %v, want [v1]", s.Object, cols)
		}
	}

	decs.version.Store(2)
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1, TypedColumns: true, TargetFileBytes: 1 << 30})
	deadline := time.Now().Add(30 * time.Second)
	for {
		segs, _ := e.mc.TierSegments(testCtx(t), e.part.topic, 0)
		if len(segs) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.part.set.Store(&Settings{Enabled: true, RetentionMs: -1, RetentionBytes: -1})
	time.Sleep(200 * time.Millisecond) // let a merge in flight finish
	merged := e.checkManifest()
	if len(merged) != 1 {
		t.Fatalf("%d files after merging %d", len(merged), len(before))
	}
	if cols := e.typedColumns(merged[0].Object); len(cols) != 1 || cols[0] != "v2" {
		t.Fatalf("merged file: typed columns %v, want [v2]", cols)
	}
	e.readCold(0, end, 8<<10)

	// Off: the next uploads have no typed columns.
	e.produce(200)
	end2 := e.sealedEnd()
	e.waitTiered(end2, 60*time.Second)
	for _, s := range e.checkManifest()[1:] {
		if cols := e.typedColumns(s.Object); len(cols) != 0 {
			t.Fatalf("%s with TypedColumns off: typed columns %v", s.Object, cols)
		}
	}
	e.readCold(0, end2, 8<<10)
}
