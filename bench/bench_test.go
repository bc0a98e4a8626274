package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestQuickRun runs the quick preset end to end with the broker in this
// process and checks that the JSON report has every field, each positive
// (or non-empty). It asserts no time and no ratio: those are the machine's.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the quick bench takes about a minute")
	}
	dir := t.TempDir()
	var md bytes.Buffer
	cfg := Config{
		Quick:      true,
		DataDir:    filepath.Join(dir, "data"),
		Out:        filepath.Join(dir, "bench.json"),
		Chart:      filepath.Join(dir, "bench.svg"),
		CPUProfile: filepath.Join(dir, "cpu.pprof"),
		Stdout:     &md,
	}
	if testing.Verbose() {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatalf("bench: %v", err)
	}

	b, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode %s: %v", cfg.Out, err)
	}
	if len(rep.Skipped) > 0 {
		t.Errorf("not measured: %q", rep.Skipped)
	}
	rep.Skipped = nil
	checkPositive(t, "report", reflect.ValueOf(rep))
	// The same fields as JSON keys: present and not null.
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "report", reflect.TypeOf(rep), raw)

	if got, want := len(rep.Strata), 4; got != want {
		t.Errorf("%d Strata cells, want %d (1 KiB x {1, 16} partitions x acks {1, all})", got, want)
	}
	if got, want := len(rep.References.NATS), 2; got != want {
		t.Errorf("%d NATS results, want %d", got, want)
	}
	for _, s := range []string{"### References", "### Strata throughput", "### Strata latency", "### Cold tier", "| 1 KiB | 16 | all |", "NATS JetStream"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("Markdown report lacks %q:\n%s", s, md.String())
		}
	}
	if fi, err := os.Stat(cfg.Chart); err != nil || fi.Size() == 0 {
		t.Errorf("chart %s: %v", cfg.Chart, err)
	}
	f, err := os.Open(cfg.CPUProfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p, err := profile.Parse(f); err != nil || len(p.Sample) == 0 {
		t.Errorf("cpu profile %s: %v", cfg.CPUProfile, err)
	}
}

// checkPositive walks v: numbers must be > 0, strings and slices
// non-empty, pointers set.
func checkPositive(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if _, ok := v.Interface().(time.Time); ok {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("%s: zero time", path)
			}
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Name == "Skipped" || (strings.Contains(path, "top_strata") && f.Name == "FlatPct") {
				continue // Strata's top functions by cum may spend no time in themselves
			}
			checkPositive(t, path+"."+jsonName(f), v.Field(i))
		}
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s: missing", path)
			return
		}
		checkPositive(t, path, v.Elem())
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s: empty", path)
		}
		for i := range v.Len() {
			checkPositive(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.String:
		if v.Len() == 0 {
			t.Errorf("%s: empty", path)
		}
	case reflect.Int, reflect.Int64:
		if v.Int() <= 0 {
			t.Errorf("%s = %d, want > 0", path, v.Int())
		}
	case reflect.Float64:
		if !(v.Float() > 0) {
			t.Errorf("%s = %v, want > 0", path, v.Float())
		}
	}
}

// checkKeys checks that every JSON field of type typ is a key of m.
func checkKeys(t *testing.T, path string, typ reflect.Type, m map[string]any) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := jsonName(f)
		if name == "skipped" || name == "-" {
			continue
		}
		val, ok := m[name]
		if !ok || val == nil {
			t.Errorf("%s.%s: missing from the JSON", path, name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}):
			if sub, ok := val.(map[string]any); ok {
				checkKeys(t, path+"."+name, ft, sub)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			for _, e := range val.([]any) {
				if sub, ok := e.(map[string]any); ok {
					checkKeys(t, path+"."+name+"[]", ft.Elem(), sub)
				}
			}
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// testLogger sends progress to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
