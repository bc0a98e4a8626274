package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// profiler collects the broker's CPU profile over the measured phases
// (start to stop, any number of times) and merges them at the end. A
// broker with an HTTP address is profiled through its /debug/pprof/profile
// in one-second windows (the window running when a phase stops is
// dropped); a broker in this process through runtime/pprof.
type profiler struct {
	metrics string // "" profiles this process
	logf    func(string, ...any)

	mu       sync.Mutex
	profiles []*profile.Profile
	cancel   context.CancelFunc
	done     chan struct{}
	buf      *bytes.Buffer
}

func (p *profiler) start() {
	if p == nil {
		return
	}
	if p.metrics == "" {
		p.buf = new(bytes.Buffer)
		if err := pprof.StartCPUProfile(p.buf); err != nil {
			p.logf("cpu profile: %v", err)
			p.buf = nil
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		failures := 0
		for ctx.Err() == nil {
			prof, err := p.fetch(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				failures = 0
				p.add(prof)
				continue
			}
			// The window cancelled at the end of the previous phase may
			// still hold the profiler for a moment ("already in use").
			if failures++; failures == 20 {
				p.logf("cpu profile: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
	}()
}

func (p *profiler) fetch(ctx context.Context) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.metrics+"/debug/pprof/profile?seconds=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	return profile.Parse(resp.Body)
}

func (p *profiler) add(prof *profile.Profile) {
	p.mu.Lock()
	p.profiles = append(p.profiles, prof)
	p.mu.Unlock()
}

func (p *profiler) stop() {
	if p == nil {
		return
	}
	if p.metrics == "" {
		if p.buf == nil {
			return
		}
		pprof.StopCPUProfile()
		prof, err := profile.Parse(p.buf)
		if err != nil {
			p.logf("cpu profile: %v", err)
		} else {
			p.add(prof)
		}
		p.buf = nil
		return
	}
	if p.cancel != nil {
		p.cancel()
		<-p.done
		p.cancel = nil
	}
}

// write merges what was collected into path and summarizes it.
func (p *profiler) write(path string) (*Profile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.profiles) == 0 {
		return nil, fmt.Errorf("cpu profile: nothing collected")
	}
	merged, err := profile.Merge(p.profiles)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: merge: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := merged.Write(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	var secs float64
	for _, pr := range p.profiles {
		secs += time.Duration(pr.DurationNanos).Seconds()
	}
	return &Profile{
		File:      path,
		Seconds:   secs,
		Top:       topFunctions(merged, 10, byFlat, ""),
		TopStrata: topFunctions(merged, 10, byCum, strataPkg),
	}, nil
}

// strataPkg prefixes the functions of this module.
const strataPkg = "github.com/stratalog/strata/"

const (
	byFlat = iota
	byCum
)

// topFunctions is `go tool pprof -top` (order byFlat) or `-top -cum`
// (byCum) limited to functions whose name starts with prefix: flat is the
// CPU time spent in the function itself, cum in it or its callees, in
// percent of all samples.
func topFunctions(p *profile.Profile, n, order int, prefix string) []Hotspot {
	vi := len(p.SampleType) - 1 // cpu nanoseconds follow the sample count
	flat, cum := map[string]int64{}, map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		total += v
		seen := map[string]bool{}
		for i, loc := range s.Location {
			for j, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if i == 0 && j == 0 {
					flat[name] += v
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
		}
	}
	if total == 0 {
		return nil
	}
	key := flat
	if order == byCum {
		key = cum
	}
	names := make([]string, 0, len(key))
	for name := range key {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if key[names[i]] != key[names[j]] {
			return key[names[i]] > key[names[j]]
		}
		return names[i] < names[j]
	})
	var out []Hotspot
	for _, name := range names[:min(n, len(names))] {
		out = append(out, Hotspot{
			Function: name,
			FlatPct:  100 * float64(flat[name]) / float64(total),
			CumPct:   100 * float64(cum[name]) / float64(total),
		})
	}
	return out
}
