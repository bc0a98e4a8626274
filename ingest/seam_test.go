package ingest

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSeamImports keeps the protocol seam closed: ingest's own code
// imports none of the packages below the interfaces of backend.go, so no
// broker or metadata type can cross into the handlers (server/ adapts).
func TestSeamImports(t *testing.T) {
	forbidden := []string{"broker", "meta", "hotlog", "tiering", "objstore", "query"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, pkg := range forbidden {
				if path == "github.com/stratalog/strata/"+pkg || strings.HasPrefix(path, "github.com/stratalog/strata/"+pkg+"/") {
					t.Errorf("%s imports %s: ingest talks to the layer below only through backend.go", name, path)
				}
			}
		}
	}
}
