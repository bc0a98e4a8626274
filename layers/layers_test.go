package layers

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stratalog/strata"

// floors gives each room (top-level folder, or cmd/strata) its floor; a
// package's room is the longest key that prefixes its path.
var floors = map[string]int{
	"recordbatch": 0,
	"fileutil":    0,
	"placement":   0,
	"txn":         3,
	"objstore":    1,
	"auth":        1,
	"quota":       1,
	"hotlog":      2,
	"meta":        2,
	"tiering":     3,
	"group":       3,
	"schemareg":   3,
	"broker":      4,
	"query":       5,
	"typed":       4,
	"ingest":      4,
	"iceberg":     4,
	"server":      6,
	"bench":       7,
	"cmd/strata":  8,
	"images":      8,
	"integration": 8,
	"layers":      8,
}

// forbidden lists imports a room may not make even though they are lower.
var forbidden = map[string][]string{
	"ingest": {"broker", "meta", "hotlog", "tiering", "objstore"},
}

func roomOf(rel string) (string, bool) {
	best := ""
	for room := range floors {
		if (rel == room || strings.HasPrefix(rel, room+"/")) && len(room) > len(best) {
			best = room
		}
	}
	return best, best != ""
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

func TestFloors(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		room, ok := roomOf(rel)
		if !ok {
			t.Errorf("package %s is in no room: give its folder a floor in layers_test.go and doc.go", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			impRel := strings.TrimPrefix(imp, module+"/")
			impRoom, ok := roomOf(impRel)
			if !ok {
				continue // reported as its own package above
			}
			if impRoom == room {
				continue
			}
			if floors[impRoom] >= floors[room] {
				t.Errorf("%s (floor %d) imports %s (floor %d): a package may import only lower floors",
					rel, floors[room], impRel, floors[impRoom])
			}
			for _, f := range forbidden[room] {
				if impRoom == f {
					t.Errorf("%s imports %s: %s reaches %s only through interfaces it defines", rel, impRel, room, f)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list named %d packages; expected the whole module", seen)
	}
}
