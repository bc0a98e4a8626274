package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalog/strata/tiering/coldfile"
)

// Columns added by JSON value projection.
const (
	ColRaw   = "_raw"   // the value's bytes, when it did not fit the schema
	ColError = "_error" // why
)

// ValueKind is the type of a projected JSON field.
type ValueKind string

const (
	KindInteger ValueKind = "integer" // int64
	KindNumber  ValueKind = "number"  // float64
	KindString  ValueKind = "string"  // utf8
	KindBoolean ValueKind = "boolean" // bool
	KindJSON    ValueKind = "json"    // objects, arrays, mixed: the JSON text (utf8)
)

// ValueField is one top-level field of the JSON values.
type ValueField struct {
	Name   string    // the JSON key
	Column string    // the column name (Name, or value_<Name> when Name is taken)
	Kind   ValueKind // its type
}

// ValueSchema is the set of fields JSON values are projected into, in
// column order.
type ValueSchema struct{ Fields []ValueField }

func arrowType(k ValueKind) arrow.DataType {
	switch k {
	case KindInteger:
		return arrow.PrimitiveTypes.Int64
	case KindNumber:
		return arrow.PrimitiveTypes.Float64
	case KindBoolean:
		return arrow.FixedWidthTypes.Boolean
	default:
		return arrow.BinaryTypes.String
	}
}

func newValueSchema(names []string, kinds map[string]ValueKind) *ValueSchema {
	taken := map[string]bool{ColRaw: true, ColError: true}
	for _, f := range allFields {
		taken[f.Name] = true
	}
	vs := &ValueSchema{}
	for _, n := range names {
		col := n
		for taken[col] {
			col = "value_" + col
		}
		taken[col] = true
		vs.Fields = append(vs.Fields, ValueField{Name: n, Column: col, Kind: kinds[n]})
	}
	return vs
}

func kindOf(v any) ValueKind {
	switch x := v.(type) {
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return KindInteger
		}
		return KindNumber
	case string:
		return KindString
	case bool:
		return KindBoolean
	default:
		return KindJSON
	}
}

func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	return m, nil
}

// InferValueSchema infers field types from sample rows: integer if every
// value seen is an integral number, number if numeric, string, boolean,
// else json (the JSON text). Fields only ever null are strings. Columns
// are sorted by name.
func InferValueSchema(rows []coldfile.Row) *ValueSchema {
	kinds := map[string]ValueKind{}
	for i := range rows {
		if rows[i].Value == nil {
			continue
		}
		m, err := decodeObject(rows[i].Value)
		if err != nil {
			continue
		}
		for k, v := range m {
			if v == nil {
				if _, ok := kinds[k]; !ok {
					kinds[k] = ""
				}
				continue
			}
			nk := kindOf(v)
			switch old := kinds[k]; {
			case old == "" || old == nk:
				kinds[k] = nk
			case (old == KindInteger && nk == KindNumber) || (old == KindNumber && nk == KindInteger):
				kinds[k] = KindNumber
			default:
				kinds[k] = KindJSON
			}
		}
	}
	names := make([]string, 0, len(kinds))
	for k, v := range kinds {
		if v == "" {
			kinds[k] = KindString
		}
		names = append(names, k)
	}
	slices.Sort(names)
	return newValueSchema(names, kinds)
}

// ParseValueSchema reads a JSON Schema (the subset that matters here): an
// object schema whose "properties" map field names to {"type": "integer" |
// "number" | "string" | "boolean" | "object" | "array"} (a list of types
// with "null" is accepted). Columns follow the order of "properties".
func ParseValueSchema(data []byte) (*ValueSchema, error) {
	var doc struct {
		Type       any             `json:"type"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("value schema: %w", err)
	}
	if len(doc.Properties) == 0 {
		return nil, fmt.Errorf("value schema: no \"properties\"")
	}
	// Keep the order of properties: walk the tokens.
	d := json.NewDecoder(bytes.NewReader(doc.Properties))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("value schema: \"properties\" is not an object")
	}
	var names []string
	kinds := map[string]ValueKind{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("value schema: %w", err)
		}
		name := t.(string)
		var prop struct {
			Type any `json:"type"`
		}
		if err := d.Decode(&prop); err != nil {
			return nil, fmt.Errorf("value schema: property %q: %w", name, err)
		}
		var types []string
		switch x := prop.Type.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && s != "null" {
					types = append(types, s)
				}
			}
		}
		kind := KindJSON
		if len(types) == 1 {
			switch types[0] {
			case "integer":
				kind = KindInteger
			case "number":
				kind = KindNumber
			case "string":
				kind = KindString
			case "boolean":
				kind = KindBoolean
			case "object", "array":
				kind = KindJSON
			default:
				return nil, fmt.Errorf("value schema: property %q: unknown type %q", name, types[0])
			}
		}
		names = append(names, name)
		kinds[name] = kind
	}
	return newValueSchema(names, kinds), nil
}

// ArrowSchema is the schema of projected records: the cold tier's columns
// except value, then one column per field, then _raw and _error.
func (vs *ValueSchema) ArrowSchema() *arrow.Schema {
	var fs []arrow.Field
	for _, f := range allFields {
		if f.Name != ColValue {
			fs = append(fs, f)
		}
	}
	for _, f := range vs.Fields {
		fs = append(fs, arrow.Field{Name: f.Column, Type: arrowType(f.Kind), Nullable: true})
	}
	fs = append(fs, arrow.Field{Name: ColRaw, Type: arrow.BinaryTypes.Binary, Nullable: true},
		arrow.Field{Name: ColError, Type: arrow.BinaryTypes.String, Nullable: true})
	return arrow.NewSchema(fs, nil)
}

// jsonProjector builds projected records.
type jsonProjector struct {
	vs     *ValueSchema
	schema *arrow.Schema
	mem    memory.Allocator
}

func newJSONProjector(mem memory.Allocator, vs *ValueSchema) *jsonProjector {
	return &jsonProjector{vs: vs, schema: vs.ArrowSchema(), mem: mem}
}

func (p *jsonProjector) build(rows []coldfile.Row) arrow.RecordBatch {
	rb := newRecordBuilder(p.mem, p.schema)
	defer rb.release()
	nCold := len(allFields) - 1
	raw := rb.b.Field(nCold + len(p.vs.Fields)).(*array.BinaryBuilder)
	errB := rb.b.Field(nCold + len(p.vs.Fields) + 1).(*array.StringBuilder)
	var errs []string
	for i := range rows {
		r := &rows[i]
		rb.add(r)
		errs = errs[:0]
		var m map[string]any
		if r.Value != nil {
			var err error
			if m, err = decodeObject(r.Value); err != nil {
				errs = append(errs, "value is not a JSON object: "+err.Error())
			}
		}
		for j, f := range p.vs.Fields {
			fb := rb.b.Field(nCold + j)
			v, ok := m[f.Name]
			if !ok || v == nil {
				fb.AppendNull()
				continue
			}
			if err := appendJSON(fb, f.Kind, v); err != nil {
				errs = append(errs, fmt.Sprintf("field %q: %v", f.Name, err))
				fb.AppendNull()
			}
		}
		if len(errs) > 0 {
			raw.Append(r.Value)
			errB.Append(strings.Join(errs, "; "))
		} else {
			raw.AppendNull()
			errB.AppendNull()
		}
	}
	return rb.build()
}

func appendJSON(b array.Builder, k ValueKind, v any) error {
	switch k {
	case KindInteger:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("want an integer, got %s", kindOf(v))
		}
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return fmt.Errorf("want an integer, got %s", n)
			}
			i = int64(f)
		}
		b.(*array.Int64Builder).Append(i)
	case KindNumber:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("want a number, got %s", kindOf(v))
		}
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("want a number, got %s", n)
		}
		b.(*array.Float64Builder).Append(f)
	case KindBoolean:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want a boolean, got %s", kindOf(v))
		}
		b.(*array.BooleanBuilder).Append(x)
	case KindString:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", kindOf(v))
		}
		b.(*array.StringBuilder).Append(x)
	default:
		t, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.(*array.StringBuilder).Append(string(t))
	}
	return nil
}
