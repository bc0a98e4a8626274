//go:build !chaosduckdb

package main

import (
	"context"
	"testing"

	"github.com/stratalog/strata/objstore"
)

// checkColdListing needs DuckDB, which links through cgo: `make chaos`
// builds the test with -tags chaosduckdb; without the tag the run says it
// left the check out (the ordinary test binary stays free of DuckDB).
func checkColdListing(_ context.Context, t *testing.T, _ objstore.Bucket, _ string, _ map[recordAt]string, _ coldCheck) listingCheck {
	t.Logf("DuckDB check of the bucket listing left out: build with -tags chaosduckdb (make chaos does)")
	return listingCheck{skipped: true}
}
