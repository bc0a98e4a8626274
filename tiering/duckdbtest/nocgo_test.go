//go:build !cgo

package duckdbtest

import (
	"os"
	"testing"
)

// DuckDB is a C++ library: its test needs cgo (and a C++ toolchain).
func TestDuckDBReadsTieredTopic(t *testing.T) {
	if os.Getenv("STRATA_CLIENT_TESTS") == "require" {
		t.Fatal("the DuckDB test needs cgo: build with CGO_ENABLED=1 and gcc/g++ installed")
	}
	t.Skip("the DuckDB test needs cgo (CGO_ENABLED=1, gcc/g++)")
}
