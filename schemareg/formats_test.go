package schemareg

import (
	"strings"
	"testing"
)

// TestCompatibilityTables checks each format's rules directly: readable
// reports whether data written with old can be read with new (BACKWARD);
// swapping them is FORWARD.
func TestCompatibilityTables(t *testing.T) {
	rec := func(fields string) string {
		return `{"type":"record","name":"R","fields":[` + fields + `]}`
	}
	proto := func(body string) string { return "syntax = \"proto3\";\npackage p;\nmessage M {\n" + body + "\n}\n" }
	proto2 := func(body string) string { return "syntax = \"proto2\";\npackage p;\nmessage M {\n" + body + "\n}\n" }
	tests := []struct {
		name, typ, old, new string
		backward, forward   bool
		wantMsg             string // in the backward messages, if any
	}{
		// Avro
		{"avro add field with default", TypeAvro, rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}`), true, true, ""},
		{"avro add field without default", TypeAvro, rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), false, true, ""},
		{"avro remove field without default", TypeAvro, rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), rec(`{"name":"a","type":"int"}`), true, false, ""},
		{"avro int to long", TypeAvro, rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), true, false, ""},
		{"avro long to int", TypeAvro, rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), false, true, ""},
		{"avro string to int", TypeAvro, rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"int"}`), false, false, ""},
		{"avro enum symbol added", TypeAvro, `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, false, ""},
		{"avro nested record field added with default", TypeAvro,
			rec(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"}]}}`),
			rec(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","int"],"default":null}]}}`), true, true, ""},
		// Protobuf
		{"proto add field", TypeProtobuf, proto(`string a = 1;`), proto(`string a = 1; int64 b = 2;`), true, true, ""},
		{"proto remove field", TypeProtobuf, proto(`string a = 1; int64 b = 2;`), proto(`string a = 1;`), true, true, ""},
		{"proto change field type", TypeProtobuf, proto(`string a = 1;`), proto(`int32 a = 1;`), false, false, "FIELD_SCALAR_KIND_CHANGED"},
		{"proto int32 to int64 (same wire type)", TypeProtobuf, proto(`int32 a = 1;`), proto(`int64 a = 1;`), true, true, ""},
		{"proto rename field, same number", TypeProtobuf, proto(`string a = 1;`), proto(`string b = 1;`), true, true, ""},
		{"proto singular to repeated", TypeProtobuf, proto(`string a = 1;`), proto(`repeated string a = 1;`), false, false, "FIELD_KIND_CHANGED"},
		{"proto message removed", TypeProtobuf, proto(`string a = 1;`) + "message N { int32 x = 1; }\n", proto(`string a = 1;`), false, true, "MESSAGE_REMOVED"},
		{"proto package changed", TypeProtobuf, proto(`string a = 1;`), strings.Replace(proto(`string a = 1;`), "package p;", "package q;", 1), false, false, "PACKAGE_CHANGED"},
		{"proto2 required added", TypeProtobuf, proto2(`optional string a = 1;`), proto2(`optional string a = 1; required int32 b = 2;`), false, false, "REQUIRED_FIELD_ADDED"},
		// JSON Schema
		{"json closed: optional property added", TypeJSON,
			`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`, true, false, ""},
		{"json open: property added", TypeJSON,
			`{"type":"object","properties":{"a":{"type":"string"}}}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, false, true, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
		{"json open: property removed", TypeJSON,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`,
			`{"type":"object","properties":{"a":{"type":"string"}}}`, true, false, ""},
		{"json required added", TypeJSON,
			`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, false, true, "REQUIRED_PROPERTY_ADDED"},
		{"json integer widened to number", TypeJSON,
			`{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"number"}},"additionalProperties":false}`, true, false, ""},
		{"json string to integer", TypeJSON, `{"type":"string"}`, `{"type":"integer"}`, false, false, "TYPE_CHANGED"},
		{"json enum grown", TypeJSON, `{"enum":["a"]}`, `{"enum":["a","b"]}`, true, false, ""},
		{"json items type changed", TypeJSON, `{"type":"array","items":{"type":"string"}}`, `{"type":"array","items":{"type":"boolean"}}`, false, false, "TYPE_CHANGED at #/items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.typ, tt.old, nil)
			if err != nil {
				t.Fatalf("old: %v", err)
			}
			n, err := parse(tt.typ, tt.new, nil)
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			back, fwd := n.readable(o), o.readable(n)
			if (len(back) == 0) != tt.backward || (len(fwd) == 0) != tt.forward {
				t.Fatalf("backward %v (%q), forward %v (%q); want %v, %v", len(back) == 0, back, len(fwd) == 0, fwd, tt.backward, tt.forward)
			}
			if tt.wantMsg != "" && !strings.Contains(strings.Join(back, ";")+strings.Join(fwd, ";"), tt.wantMsg) {
				t.Fatalf("messages %q %q lack %q", back, fwd, tt.wantMsg)
			}
		})
	}
}

// Parse errors are errors, never panics, and identity ignores layout.
func TestParseAndCanonical(t *testing.T) {
	for _, tt := range []struct{ typ, a, b string }{
		{TypeAvro, `{"type":"record","name":"R","doc":"x","fields":[{"name":"a","type":"int"}]}`, `{ "name":"R", "type":"record", "fields":[ {"type":"int","name":"a"} ] }`},
		{TypeJSON, `{"type":"object","properties":{"a":{"type":"string"}}}`, `{ "properties": {"a": {"type": "string"}}, "type": "object" }`},
	} {
		pa, err := parse(tt.typ, tt.a, nil)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := parse(tt.typ, tt.b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pa.canonical() != pb.canonical() {
			t.Fatalf("%s canonical forms differ: %s vs %s", tt.typ, pa.canonical(), pb.canonical())
		}
	}
	for _, bad := range []struct{ typ, s string }{
		{TypeAvro, `{"type":"record"}`}, {TypeAvro, `[`}, {TypeProtobuf, `message {`}, {TypeProtobuf, "syntax = \"proto3\";\nimport \"nope.proto\";\n"},
		{TypeJSON, `{"type": 5}`}, {TypeJSON, `{"$ref":"http://example.com/x.json"}`}, {TypeJSON, `{`},
	} {
		if _, err := parse(bad.typ, bad.s, nil); err == nil {
			t.Errorf("%s %q parsed", bad.typ, bad.s)
		}
	}
}
