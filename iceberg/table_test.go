package iceberg

import (
	"context"
	"testing"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// openPath opens the table the way a path-based reader does: the metadata
// file named, files read through iceberg-go's own IO for the URI scheme.
func openPath(t *testing.T, location string, props map[string]string) *table.Table {
	t.Helper()
	tbl, err := table.NewFromLocation(testCtx(t), table.Identifier{"strata", "orders"}, location, iceio.LoadFSFunc(props, location), nil)
	if err != nil {
		t.Fatalf("open %s: %v", location, err)
	}
	return tbl
}

func (f *fixture) current() string {
	f.t.Helper()
	ptr, ok, err := f.meta.IcebergTable(context.Background(), f.topic)
	if err != nil || !ok {
		f.t.Fatalf("no table pointer: %v", err)
	}
	return ptr.MetadataLocation
}

func TestSyncAppendMergeRetainLocal(t *testing.T) {
	f := newLocalFixture(t, 2)
	segs := f.upload(0, 0, 100)
	if res := f.sync(f.tables, 0, segs); res.Operation != table.OpAppend || res.Added != 1 {
		t.Fatalf("first sync: %+v", res)
	}
	segs = f.upload(0, 100, 50)
	if res := f.sync(f.tables, 0, segs); res.Operation != table.OpAppend || res.Added != 1 || res.Removed != 0 {
		t.Fatalf("second sync: %+v", res)
	}
	s1 := f.upload(1, 0, 30)
	f.sync(f.tables, 1, s1)
	checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 150, 1: 30})

	// A no-op sync commits nothing.
	if res := f.sync(f.tables, 0, segs); res.Operation != "" {
		t.Fatalf("sync of an unchanged manifest committed %+v", res)
	}
	segs = f.upload(0, 150, 20)
	segs = f.merge(0)
	res := f.sync(f.tables, 0, segs)
	// One commit saw an upload and a merge: files of other records in and
	// out, so an overwrite.
	if res.Operation != table.OpOverwrite {
		t.Fatalf("upload+merge: %+v", res)
	}
	checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 170, 1: 30})

	segs = f.upload(0, 170, 10)
	f.sync(f.tables, 0, segs)
	segs = f.merge(0)
	if res := f.sync(f.tables, 0, segs); res.Operation != table.OpReplace {
		t.Fatalf("merge: %+v", res)
	}
	segs = f.upload(0, 180, 10)
	f.sync(f.tables, 0, segs)
	segs = f.retain(0, 1)
	if res := f.sync(f.tables, 0, segs); res.Operation != table.OpDelete || res.Removed != 1 {
		t.Fatalf("retention: %+v", res)
	}
	checkRows(t, scanTable(t, openPath(t, f.current(), nil)), map[int32]int64{0: 180, 1: 0}, map[int32]int64{0: 190, 1: 30})

	// The path-reader copy and the hint name the same table.
	st, err := f.tables.TableStatus(testCtx(t), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Records != 40 {
		t.Fatalf("status %+v", st)
	}
	checkRows(t, scanTable(t, openPath(t, f.root+"/"+versionKey(f.topic, st.Version), nil)), map[int32]int64{0: 180, 1: 0}, map[int32]int64{0: 190, 1: 30})
}
