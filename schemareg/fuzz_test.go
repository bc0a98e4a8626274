package schemareg

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRegisterBody sends untrusted request bodies to the schema-parsing
// endpoints (register, lookup, compatibility) of a registry on a real
// etcd: the answer is a Confluent error or success, never a panic or a
// 500, and bodies stay within MaxRequestBytes.
func FuzzRegisterBody(f *testing.F) {
	for _, s := range []string{
		jsonBody("", avroV1), jsonBody("", avroBad), jsonBody("PROTOBUF", "syntax = \"proto3\"; message M { string a = 1; }"),
		jsonBody("JSON", `{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"type":"string"}}}`),
		jsonBody("", avroV2, "x", "s", "1"), `{"schema":"\"int\"","id":7}`, `{"schema":`, `[]`, `null`,
	} {
		f.Add(s)
	}
	st := newTestStoreF(f)
	reg := New(st)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/subjects/fz/versions", "/subjects/fz", "/compatibility/subjects/fz/versions/latest"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", ContentType)
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzParse feeds untrusted schema text of every type to the format
// libraries, as the register endpoint does after decoding its bounded
// body: an error or a schema, never a panic, and a parsed schema's
// canonical form parses again to the same form and reads its own data.
// (FuzzRegisterBody covers the HTTP path on a real etcd; under -fuzz its
// coverage-instrumented embedded etcd starts too slowly for the fuzzing
// engine, so this target is the one to run with -fuzz.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{avroV1, avroV3, `"int"`, `{"type":"array","items":"long"}`,
		"syntax = \"proto3\";\npackage p;\nmessage M { string a = 1; map<string,int64> m = 2; }",
		`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > MaxRequestBytes {
			return
		}
		for _, typ := range []string{TypeAvro, TypeProtobuf, TypeJSON} {
			p, err := parse(typ, text, nil)
			if err != nil {
				continue
			}
			if msgs := p.readable(p); len(msgs) > 0 {
				t.Fatalf("%s %q cannot read itself: %q", typ, text, msgs)
			}
			if typ == TypeProtobuf {
				continue // canonical form is the text
			}
			q, err := parse(typ, p.canonical(), nil)
			if err != nil {
				t.Fatalf("%s canonical form %q of %q does not parse: %v", typ, p.canonical(), text, err)
			}
			if q.canonical() != p.canonical() {
				t.Fatalf("%s canonical form not stable: %q then %q", typ, p.canonical(), q.canonical())
			}
		}
	})
}
