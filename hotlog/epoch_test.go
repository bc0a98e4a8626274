package hotlog

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLeaderEpochCache(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, smallConfig())
	// epoch 2: offsets 0-9, epoch 3: 10-19, epoch 3 again: 20-29,
	// epoch 1 (stale, not recorded): 30-39, epoch 7: 40-49.
	for _, e := range []int32{2, 3, 3, 1, 7} {
		for i := 0; i < 2; i++ {
			mustAppend(t, l, simpleBatch(t, 1, 5, 3), e, nil)
		}
	}
	cases := []struct {
		req      int32
		epoch    int32
		endOff   int64
		describe string
	}{
		{-1, -1, -1, "undefined"},
		{0, -1, -1, "below the first epoch"},
		{1, -1, -1, "below the first epoch"},
		{2, 2, 10, "first epoch"},
		{3, 3, 40, "middle epoch"},
		{5, 3, 40, "unknown epoch between"},
		{7, 7, 50, "latest"},
		{9, 7, 50, "above latest"},
	}
	check := func(l *Log) {
		t.Helper()
		if l.LatestEpoch() != 7 {
			t.Fatalf("latest epoch %d", l.LatestEpoch())
		}
		for _, c := range cases {
			if e, o := l.EndOffsetForEpoch(c.req); e != c.epoch || o != c.endOff {
				t.Errorf("%s: EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.describe, c.req, e, o, c.epoch, c.endOff)
			}
		}
	}
	check(l)
	l.Close()
	cp := filepath.Join(dir, epochCheckpointFile)
	data, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n3\n2 0\n3 10\n7 40\n"; string(data) != want {
		t.Fatalf("checkpoint %q, want %q", data, want)
	}
	for name, mutate := range map[string]func(){
		"as written": func() {},
		"missing":    func() { os.Remove(cp) },
		"corrupt":    func() { os.WriteFile(cp, []byte("0\n5\n2 0\n"), 0o644) },
		"garbage":    func() { os.WriteFile(cp, []byte("\x00\x01hello"), 0o644) },
		"stale":      func() { os.WriteFile(cp, []byte("0\n2\n2 0\n3 10\n"), 0o644) },
		"past end":   func() { os.WriteFile(cp, []byte("0\n4\n2 0\n3 10\n7 40\n8 60\n"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			mutate()
			l := openLog(t, dir, smallConfig())
			check(l)
			l.Close()
			if got, _ := os.ReadFile(cp); string(got) != string(data) {
				t.Fatalf("checkpoint after reopen %q", got)
			}
		})
	}
}

func TestEpochCheckpointParse(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
		n  int
	}{
		{"0\n0\n", true, 0},
		{"0\n2\n1 0\n4 100\n", true, 2},
		{"0\n2\n1 0\n4 100\n\n", true, 2},
		{"1\n0\n", false, 0},
		{"0\n2\n1 0\n", false, 0},
		{"0\n2\n4 0\n1 100\n", false, 0},
		{"0\n2\n1 100\n4 0\n", false, 0},
		{"0\n1\n1 0 9\n", false, 0},
		{"0\n1\n-1 0\n", false, 0},
		{"0\n1\n1 0\nextra\n", false, 0},
		{"", false, 0},
	} {
		p := filepath.Join(t.TempDir(), "cp")
		os.WriteFile(p, []byte(tt.in), 0o644)
		es, err := readEpochCheckpoint(p)
		if (err == nil) != tt.ok || len(es) != tt.n {
			t.Errorf("%q: %v %v", tt.in, es, err)
		}
	}
}
