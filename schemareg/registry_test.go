package schemareg

import (
	"encoding/json"
	"strings"
	"testing"
)

func jsonBody(schemaType, schema string, refs ...string) string {
	m := map[string]any{"schema": schema}
	if schemaType != "" {
		m["schemaType"] = schemaType
	}
	if len(refs) > 0 {
		var rs []map[string]any
		for i := 0; i+2 < len(refs)+1; i += 3 {
			rs = append(rs, map[string]any{"name": refs[i], "subject": refs[i+1], "version": json.Number(refs[i+2])})
		}
		m["references"] = rs
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const (
	avroV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"int"}]}`
	// v2 adds a field with a default: BACKWARD compatible.
	avroV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"int"},{"name":"note","type":"string","default":""}]}`
	// v3 widens id int -> long: BACKWARD compatible (a long reader reads ints).
	avroV3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	// bad adds a field without a default: not BACKWARD compatible.
	avroBad = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"qty","type":"int"}]}`
)

type step struct {
	name, method, path, body string
	status                   int
	want                     string // exact body, or the prefix if it ends with "*"
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	ts, _ := newTestServer(t)
	for _, s := range steps {
		status, body := do(t, ts, s.method, s.path, s.body)
		ok := body == s.want
		if p, isPrefix := strings.CutSuffix(s.want, "*"); isPrefix {
			ok = strings.HasPrefix(body, p)
		}
		if status != s.status || !ok {
			t.Fatalf("%s: %s %s = %d %s, want %d %s", s.name, s.method, s.path, status, body, s.status, s.want)
		}
	}
}

// TestRegistryAPI walks every endpoint and error code in one registry,
// in order: each step sees the state the steps before it left.
func TestRegistryAPI(t *testing.T) {
	v1, v2, v3 := jsonBody("", avroV1), jsonBody("AVRO", avroV2), jsonBody("", avroV3)
	runSteps(t, []step{
		{"root", "GET", "/", "", 200, `{}`},
		{"types", "GET", "/schemas/types", "", 200, `["JSON","PROTOBUF","AVRO"]`},
		{"no subjects", "GET", "/subjects", "", 200, `[]`},
		{"versions of unknown subject", "GET", "/subjects/orders-value/versions", "", 404, `{"error_code":40401,"message":"Subject 'orders-value' not found."}`},
		{"unknown id", "GET", "/schemas/ids/1", "", 404, `{"error_code":40403,"message":"Schema 1 not found"}`},
		{"bad id", "GET", "/schemas/ids/x", "", 404, `{"error_code":40403,"message":"Schema x not found"}`},
		{"invalid avro", "POST", "/subjects/orders-value/versions", jsonBody("", `{"type":"record","name":"X"}`), 422, `{"error_code":42201,"message":"Invalid schema: *`},
		{"unknown type", "POST", "/subjects/orders-value/versions", jsonBody("XML", `<a/>`), 422, `{"error_code":42201,"message":"Invalid schema type XML"}`},
		{"malformed body", "POST", "/subjects/orders-value/versions", `{"schema":`, 422, `{"error_code":42201,*`},
		{"register v1", "POST", "/subjects/orders-value/versions", v1, 200, `{"id":1}`},
		{"register v1 again: same id", "POST", "/subjects/orders-value/versions", v1, 200, `{"id":1}`},
		{"same schema, other subject: same id", "POST", "/subjects/other-value/versions", jsonBody("", " "+avroV1+"\n"), 200, `{"id":1}`},
		{"register v2", "POST", "/subjects/orders-value/versions", v2, 200, `{"id":2}`},
		{"register v3 (int->long)", "POST", "/subjects/orders-value/versions", v3, 200, `{"id":3}`},
		{"field without default refused", "POST", "/subjects/orders-value/versions", jsonBody("", avroBad), 409, `{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject \"orders-value\", details: [*`},
		{"subjects", "GET", "/subjects", "", 200, `["orders-value","other-value"]`},
		{"subject prefix", "GET", "/subjects?subjectPrefix=oth", "", 200, `["other-value"]`},
		{"versions", "GET", "/subjects/orders-value/versions", "", 200, `[1,2,3]`},
		{"version 2", "GET", "/subjects/orders-value/versions/2", "", 200, `{"subject":"orders-value","version":2,"id":2,"schema":` + quote(avroV2) + `}`},
		{"latest", "GET", "/subjects/orders-value/versions/latest", "", 200, `{"subject":"orders-value","version":3,"id":3,"schema":` + quote(avroV3) + `}`},
		{"-1 is latest", "GET", "/subjects/orders-value/versions/-1/schema", "", 200, avroV3},
		{"missing version", "GET", "/subjects/orders-value/versions/9", "", 404, `{"error_code":40402,"message":"Version 9 not found."}`},
		{"invalid version", "GET", "/subjects/orders-value/versions/abc", "", 422, `{"error_code":42202,*`},
		{"version 0 invalid", "GET", "/subjects/orders-value/versions/0", "", 422, `{"error_code":42202,*`},
		{"by id", "GET", "/schemas/ids/2", "", 200, `{"schema":` + quote(avroV2) + `}`},
		{"raw by id", "GET", "/schemas/ids/1/schema", "", 200, avroV1},
		{"id subjects", "GET", "/schemas/ids/1/subjects", "", 200, `["orders-value","other-value"]`},
		{"id versions", "GET", "/schemas/ids/1/versions", "", 200, `[{"subject":"orders-value","version":1},{"subject":"other-value","version":1}]`},
		{"lookup", "POST", "/subjects/orders-value", v2, 200, `{"subject":"orders-value","version":2,"id":2,"schema":` + quote(avroV2) + `}`},
		{"lookup, not registered", "POST", "/subjects/other-value", v2, 404, `{"error_code":40403,"message":"Schema not found"}`},
		{"lookup, no subject", "POST", "/subjects/nope", v2, 404, `{"error_code":40401,"message":"Subject 'nope' not found."}`},
		{"compat latest ok", "POST", "/compatibility/subjects/orders-value/versions/latest?verbose=true", v3, 200, `{"is_compatible":true,"messages":[]}`},
		{"compat bad", "POST", "/compatibility/subjects/orders-value/versions/latest", jsonBody("", avroBad), 200, `{"is_compatible":false}`},
		{"compat bad verbose", "POST", "/compatibility/subjects/orders-value/versions/3?verbose=true", jsonBody("", avroBad), 200, `{"is_compatible":false,"messages":["version 3 (backward): *`},
		{"compat all versions", "POST", "/compatibility/subjects/orders-value/versions", v3, 200, `{"is_compatible":true}`},
		{"compat missing subject", "POST", "/compatibility/subjects/nope/versions/latest", v3, 404, `{"error_code":40401,*`},
		{"compat missing version", "POST", "/compatibility/subjects/orders-value/versions/7", v3, 404, `{"error_code":40402,*`},
		// config
		{"global config", "GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`},
		{"subject config unset", "GET", "/config/orders-value", "", 404, `{"error_code":40408,"message":"Subject 'orders-value' does not have subject-level compatibility configured"}`},
		{"subject config default to global", "GET", "/config/orders-value?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`},
		{"invalid level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, `{"error_code":42203,*`},
		{"set subject NONE", "PUT", "/config/orders-value", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`},
		{"subject config", "GET", "/config/orders-value", "", 200, `{"compatibilityLevel":"NONE"}`},
		{"NONE accepts anything", "POST", "/subjects/orders-value/versions", jsonBody("", `"string"`), 200, `{"id":4}`},
		{"delete subject config", "DELETE", "/config/orders-value", "", 200, `{"compatibilityLevel":"NONE"}`},
		{"set global FULL_TRANSITIVE", "PUT", "/config", `{"compatibility":"full_transitive"}`, 200, `{"compatibility":"FULL_TRANSITIVE"}`},
		{"delete global config", "DELETE", "/config", "", 200, `{"compatibilityLevel":"FULL_TRANSITIVE"}`},
		// mode
		{"global mode", "GET", "/mode", "", 200, `{"mode":"READWRITE"}`},
		{"invalid mode", "PUT", "/mode", `{"mode":"WRITEONLY"}`, 422, `{"error_code":42204,*`},
		{"subject mode unset", "GET", "/mode/orders-value", "", 404, `{"error_code":40409,*`},
		{"read-only subject", "PUT", "/mode/orders-value", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`},
		{"read-only refuses register", "POST", "/subjects/orders-value/versions", jsonBody("", `"int"`), 422, `{"error_code":42205,"message":"Subject orders-value is in read-only mode"}`},
		{"read-only refuses delete", "DELETE", "/subjects/orders-value", "", 422, `{"error_code":42205,*`},
		{"id without import mode", "POST", "/subjects/imp/versions", `{"schema":"\"int\"","id":100}`, 422, `{"error_code":42205,"message":"Subject imp is not in import mode"}`},
		{"import mode", "PUT", "/mode/imp", `{"mode":"IMPORT"}`, 200, `{"mode":"IMPORT"}`},
		{"import with id", "POST", "/subjects/imp/versions", `{"schema":"\"int\"","id":100,"version":5}`, 200, `{"id":100}`},
		{"imported version", "GET", "/subjects/imp/versions/5", "", 200, `{"subject":"imp","version":5,"id":100,"schema":"\"int\""}`},
		{"import id taken", "POST", "/subjects/imp/versions", `{"schema":"\"long\"","id":100,"version":6}`, 422, `{"error_code":42207,*`},
		{"next id after import", "POST", "/subjects/after-import/versions", jsonBody("", `"double"`), 200, `{"id":101}`},
		{"back to read-write", "DELETE", "/mode/orders-value", "", 200, `{"mode":"READONLY"}`},
		// deletes
		{"permanent before soft", "DELETE", "/subjects/orders-value/versions/1?permanent=true", "", 404, `{"error_code":40407,*`},
		{"soft delete v1", "DELETE", "/subjects/orders-value/versions/1", "", 200, `1`},
		{"v1 gone", "GET", "/subjects/orders-value/versions/1", "", 404, `{"error_code":40402,*`},
		{"v1 with deleted", "GET", "/subjects/orders-value/versions/1?deleted=true", "", 200, `{"subject":"orders-value","version":1,"id":1,*`},
		{"soft delete v1 twice", "DELETE", "/subjects/orders-value/versions/1", "", 404, `{"error_code":40406,*`},
		{"versions without v1", "GET", "/subjects/orders-value/versions", "", 200, `[2,3,4]`},
		{"versions with deleted", "GET", "/subjects/orders-value/versions?deleted=true", "", 200, `[1,2,3,4]`},
		{"hard delete v1", "DELETE", "/subjects/orders-value/versions/1?permanent=true", "", 200, `1`},
		{"id 1 still served", "GET", "/schemas/ids/1/subjects", "", 200, `["other-value"]`},
		{"subject permanent before soft", "DELETE", "/subjects/orders-value?permanent=true", "", 404, `{"error_code":40405,"message":"Subject 'orders-value' was not deleted first before being permanently deleted"}`},
		{"soft delete subject", "DELETE", "/subjects/orders-value", "", 200, `[2,3,4]`},
		{"soft delete subject twice", "DELETE", "/subjects/orders-value", "", 404, `{"error_code":40404,"message":"Subject 'orders-value' was soft deleted.Set permanent=true to delete permanently"}`},
		{"subject hidden", "GET", "/subjects", "", 200, `["after-import","imp","other-value"]`},
		{"subject with deleted", "GET", "/subjects?deleted=true", "", 200, `["after-import","imp","orders-value","other-value"]`},
		{"hard delete subject", "DELETE", "/subjects/orders-value?permanent=true", "", 200, `[2,3,4]`},
		{"subject gone", "DELETE", "/subjects/orders-value", "", 404, `{"error_code":40401,*`},
		{"ids stay", "GET", "/schemas/ids/3/schema", "", 200, avroV3},
		{"re-register after hard delete: old id, version 1", "POST", "/subjects/orders-value/versions", v3, 200, `{"id":3}`},
		{"unknown route", "GET", "/nope", "", 404, `{"error_code":404,*`},
	})
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestRegistryReferences registers a schema that references another
// subject's version, and keeps the referenced version from deletion.
func TestRegistryReferences(t *testing.T) {
	customer := `{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"name","type":"string"}]}`
	order := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"customer","type":"shop.Customer"}]}`
	proto1 := "syntax = \"proto3\";\npackage shop;\nmessage Customer { string name = 1; }\n"
	proto2 := "syntax = \"proto3\";\npackage shop;\nimport \"customer.proto\";\nmessage Order { Customer customer = 1; }\n"
	runSteps(t, []step{
		{"customer", "POST", "/subjects/customer/versions", jsonBody("", customer), 200, `{"id":1}`},
		{"order without reference", "POST", "/subjects/order/versions", jsonBody("", order), 422, `{"error_code":42201,*`},
		{"missing reference", "POST", "/subjects/order/versions", jsonBody("", order, "shop.Customer", "customer", "7"), 422, `{"error_code":42201,*`},
		{"order", "POST", "/subjects/order/versions", jsonBody("", order, "shop.Customer", "customer", "1"), 200, `{"id":2}`},
		{"order by id has references", "GET", "/schemas/ids/2", "", 200, `{"schema":` + quote(order) + `,"references":[{"name":"shop.Customer","subject":"customer","version":1}]}`},
		{"referenced by", "GET", "/subjects/customer/versions/1/referencedby", "", 200, `[2]`},
		{"referenced version kept", "DELETE", "/subjects/customer/versions/1", "", 422, `{"error_code":42206,*`},
		{"referenced subject kept", "DELETE", "/subjects/customer", "", 422, `{"error_code":42206,*`},
		{"proto customer", "POST", "/subjects/customer.proto/versions", jsonBody("PROTOBUF", proto1), 200, `{"id":3}`},
		{"proto order", "POST", "/subjects/porder/versions", jsonBody("PROTOBUF", proto2, "customer.proto", "customer.proto", "1"), 200, `{"id":4}`},
		{"proto order by version", "GET", "/subjects/porder/versions/1", "", 200, `{"subject":"porder","version":1,"id":4,"schemaType":"PROTOBUF","references":[{"name":"customer.proto","subject":"customer.proto","version":1}],*`},
	})
}

// Request bodies are bounded and only Confluent's and JSON media types
// are accepted.
func TestRegistryBodyLimits(t *testing.T) {
	ts, _ := newTestServer(t)
	big := jsonBody("", `"`+strings.Repeat("x", MaxRequestBytes)+`"`)
	if status, body := do(t, ts, "POST", "/subjects/big/versions", big); status != 413 || !strings.Contains(body, `"error_code":413`) {
		t.Fatalf("oversized body: %d %s", status, body)
	}
	for _, ct := range []string{"application/json", "application/vnd.schemaregistry+json", ContentType + "; charset=utf-8"} {
		req := mustRequest(t, "POST", ts.URL+"/subjects/ct/versions", jsonBody("", `"int"`))
		req.Header.Set("Content-Type", ct)
		if resp := mustDo(t, req); resp.StatusCode != 200 {
			t.Fatalf("content type %s: %d", ct, resp.StatusCode)
		}
	}
	req := mustRequest(t, "POST", ts.URL+"/subjects/ct/versions", jsonBody("", `"int"`))
	req.Header.Set("Content-Type", "text/xml")
	if resp := mustDo(t, req); resp.StatusCode != 415 {
		t.Fatalf("text/xml: %d", resp.StatusCode)
	}
}
