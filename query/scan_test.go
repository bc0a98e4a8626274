package query_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stratalog/strata/query"
	"github.com/stratalog/strata/tiering/coldfile"
)

func textValue(i int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"name":"n%d","score":%d.5,"ok":%v}`, i, i, i, i%2 == 0)
}

// coldHot produces records, waits until part of them is tiered, produces
// more (hot), and returns what was produced.
func coldHot(t testing.TB, e *env, topic string, parts int32, value func(int) []byte) map[int32][]rec {
	e.createTieredTopic(topic, parts)
	a := e.produce(topic, parts, 1500, 0, value)
	e.waitCold(topic, parts, 200)
	b := e.produce(topic, parts, 400, 1500, value)
	return merge(a, b)
}

func scanAll(t testing.TB, s *query.Scanner) []coldfile.Row {
	t.Helper()
	var out []coldfile.Row
	for {
		rows, err := s.NextRows()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
}

func TestScanColdAndHot(t *testing.T) {
	e := startEnv(t)
	want := coldHot(t, e, "scan", 2, textValue)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := e.planner()
	for _, tc := range []struct{ from, to int64 }{{-1, -1}, {0, -1}, {100, 900}, {5, 300}, {850, -1}} {
		p, err := q.Plan(ctx, query.Range{Topic: "scan", FromOffset: tc.from, ToOffset: tc.to})
		if err != nil {
			t.Fatal(err)
		}
		s, err := q.Scan(ctx, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := scanAll(t, s)
		st := s.Stats()
		from := max(tc.from, 0)
		compareRows(t, rows, want, from, tc.to)
		t.Logf("range [%d,%d): %d rows, %d cold (%d files, %d GETs), %d hot", tc.from, tc.to, st.Rows, st.ColdRows, st.ColdFiles, st.ColdGets, st.HotRows)
		if tc.from < 0 && (st.ColdRows == 0 || st.HotRows == 0) {
			t.Fatalf("whole range: %d cold rows, %d hot rows; want both", st.ColdRows, st.HotRows)
		}
	}
}
