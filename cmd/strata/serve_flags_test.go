package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestREADMEListsEveryServeFlag keeps the configuration table true: every
// `strata serve` flag appears in it.
func TestREADMEListsEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	newServeCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(string(readme), "`--"+f.Name+"`") {
			t.Errorf("README's configuration table does not list --%s", f.Name)
		}
	})
}
