package iceberg

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	strest "github.com/stratalog/strata/iceberg/rest"
)

func (f *fixture) serveREST(defaults map[string]string) *httptest.Server {
	srv := httptest.NewServer(strest.New(strest.Config{Source: f.tables, Defaults: defaults, Logger: testLogger()}))
	f.t.Cleanup(srv.Close)
	return srv
}

func restCatalog(t *testing.T, uri string, props ice.Properties) *rest.Catalog {
	t.Helper()
	cat, err := rest.NewCatalog(testCtx(t), "strata", uri, rest.WithAdditionalProps(props))
	if err != nil {
		t.Fatalf("rest catalog: %v", err)
	}
	return cat
}

// TestRESTCatalogScanLocal: iceberg-go's REST client lists and loads the
// table from Strata's endpoint and scans every record.
func TestRESTCatalogScanLocal(t *testing.T) {
	f := newLocalFixture(t, 3)
	for p := int32(0); p < 3; p++ {
		f.upload(p, 0, 40)
		f.sync(f.tables, p, f.upload(p, 40, 25))
	}
	srv := f.serveREST(nil)
	cat := restCatalog(t, srv.URL, nil)
	ctx := testCtx(t)
	var names []string
	for id, err := range cat.ListTables(ctx, table.Identifier{"strata"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.Join(id, "."))
	}
	if len(names) != 1 || names[0] != "strata.orders" {
		t.Fatalf("tables %v", names)
	}
	ok, err := cat.CheckTableExists(ctx, table.Identifier{"strata", "orders"})
	if err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	ok, err = cat.CheckTableExists(ctx, table.Identifier{"strata", "nope"})
	if err != nil || ok {
		t.Fatalf("exists(nope): %v %v", ok, err)
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{"strata", "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Properties()[PropTopic] != "orders" {
		t.Fatalf("properties %v", tbl.Properties())
	}
	// Field ids are the Parquet ones.
	for name, id := range map[string]int{"offset": 1, "timestamp": 2, "key": 3, "value": 4, "headers": 5, "partition": 12, "headers.element.value": 17} {
		f, ok := tbl.Schema().FindFieldByName(name)
		if !ok || f.ID != id {
			t.Fatalf("field %s: %+v %v, want id %d", name, f, ok, id)
		}
	}
	checkRows(t, scanTable(t, tbl), map[int32]int64{0: 0, 1: 0, 2: 0}, map[int32]int64{0: 65, 1: 65, 2: 65})

	// Partition pruning by the identity spec.
	rows := scanTable(t, tbl, table.WithRowFilter(ice.EqualTo(ice.Reference("partition"), int32(1))))
	checkRows(t, rows, map[int32]int64{1: 0}, map[int32]int64{1: 65})

	// Writes are refused.
	_, err = cat.CreateTable(ctx, table.Identifier{"strata", "x"}, Schema())
	if err == nil {
		t.Fatal("create table accepted")
	}
	if err := cat.DropTable(ctx, table.Identifier{"strata", "orders"}); err == nil {
		t.Fatal("drop table accepted")
	}
	var _ catalog.Catalog = cat
}

// TestRESTConformance checks status codes, error bodies and the config
// endpoint with a plain HTTP client against the OpenAPI spec's shapes.
func TestRESTConformance(t *testing.T) {
	f := newLocalFixture(t, 1)
	f.sync(f.tables, 0, f.upload(0, 0, 10))
	srv := f.serveREST(map[string]string{"s3.endpoint": "http://minio:9000"})
	do := func(method, path, body string) (int, map[string]any, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s %s: body not JSON: %q", method, path, b)
			}
		}
		return resp.StatusCode, m, resp.Header
	}
	checkErr := func(m map[string]any, code int, typ string) {
		t.Helper()
		e, ok := m["error"].(map[string]any)
		if !ok {
			t.Fatalf("no error object: %v", m)
		}
		if e["code"] != float64(code) || e["type"] != typ || e["message"] == "" || e["message"] == nil {
			t.Fatalf("error %v, want code %d type %s and a message", e, code, typ)
		}
	}
	code, m, h := do("GET", "/v1/config", "")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("config: %d %v", code, h)
	}
	if _, ok := m["overrides"].(map[string]any); !ok {
		t.Fatalf("config without overrides: %v", m)
	}
	if d, _ := m["defaults"].(map[string]any); d["s3.endpoint"] != "http://minio:9000" {
		t.Fatalf("config defaults: %v", m)
	}
	if eps, _ := m["endpoints"].([]any); len(eps) == 0 {
		t.Fatalf("config endpoints: %v", m)
	}
	code, m, _ = do("GET", "/v1/namespaces", "")
	if code != 200 || len(m["namespaces"].([]any)) != 1 {
		t.Fatalf("namespaces: %d %v", code, m)
	}
	if code, m, _ = do("GET", "/v1/namespaces/strata", ""); code != 200 || m["namespace"].([]any)[0] != "strata" {
		t.Fatalf("namespace: %d %v", code, m)
	}
	if code, _, _ = do("HEAD", "/v1/namespaces/strata", ""); code != 204 {
		t.Fatalf("HEAD namespace: %d", code)
	}
	if code, _, _ = do("HEAD", "/v1/namespaces/other", ""); code != 404 {
		t.Fatalf("HEAD unknown namespace: %d", code)
	}
	code, m, _ = do("GET", "/v1/namespaces/other", "")
	if code != 404 {
		t.Fatalf("unknown namespace: %d", code)
	}
	checkErr(m, 404, "NoSuchNamespaceException")
	code, m, _ = do("GET", "/v1/namespaces/other/tables", "")
	checkErr(m, 404, "NoSuchNamespaceException")
	code, m, _ = do("GET", "/v1/namespaces/strata/tables", "")
	ids := m["identifiers"].([]any)
	if code != 200 || len(ids) != 1 || ids[0].(map[string]any)["name"] != "orders" {
		t.Fatalf("tables: %d %v", code, m)
	}
	code, m, _ = do("GET", "/v1/namespaces/strata/tables/orders", "")
	if code != 200 || m["metadata-location"] == nil || m["metadata"].(map[string]any)["format-version"] != float64(2) {
		t.Fatalf("load table: %d %v", code, m)
	}
	if code, _, _ = do("HEAD", "/v1/namespaces/strata/tables/orders", ""); code != 204 {
		t.Fatalf("HEAD table: %d", code)
	}
	if code, _, _ = do("HEAD", "/v1/namespaces/strata/tables/missing", ""); code != 404 {
		t.Fatalf("HEAD missing table: %d", code)
	}
	code, m, _ = do("GET", "/v1/namespaces/strata/tables/missing", "")
	if code != 404 {
		t.Fatalf("missing table: %d", code)
	}
	checkErr(m, 404, "NoSuchTableException")
	code, m, _ = do("GET", "/v1/namespaces/strata/tables/bad%2Fname", "")
	checkErr(m, 404, "NoSuchTableException")
	for _, w := range [][2]string{
		{"POST", "/v1/namespaces"},
		{"DELETE", "/v1/namespaces/strata"},
		{"POST", "/v1/namespaces/strata/properties"},
		{"POST", "/v1/namespaces/strata/tables"},
		{"POST", "/v1/namespaces/strata/tables/orders"},
		{"DELETE", "/v1/namespaces/strata/tables/orders"},
		{"POST", "/v1/namespaces/strata/register"},
		{"POST", "/v1/tables/rename"},
		{"POST", "/v1/transactions/commit"},
	} {
		code, m, _ = do(w[0], w[1], `{"name":"x"}`)
		if code != 403 {
			t.Fatalf("%s %s: %d, want 403", w[0], w[1], code)
		}
		checkErr(m, 403, "ForbiddenException")
	}
	if code, _, _ = do("POST", "/v1/namespaces/strata/tables/orders/metrics", `{}`); code != 204 {
		t.Fatalf("metrics report: %d", code)
	}
	code, m, _ = do("GET", "/v2/whatever", "")
	checkErr(m, 404, "NotFoundException")
}
