package typed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
)

// JSON Schema to Parquet (docs/format/parquet.md, "Typed columns"), by
// the schema's "type": object with properties a group of optional fields
// (properties without a usable type are left out), object with only
// additionalProperties a MAP with string keys, array with items a LIST,
// string a STRING (format date a DATE, date-time a TIMESTAMP(MICROS, UTC),
// uuid a UUID), integer an INT64, number a DOUBLE, boolean a BOOLEAN; a
// type list of null and one type is that type. Local $refs (#/...) are
// followed; anything else (no type, several types, oneOf, remote refs)
// becomes a STRING holding the value's JSON text.

type jsonColumns struct {
	doc   any
	group parquet.Node
	root  bool // the schema is not an object with properties: {value: T}
}

// maxJSONDepth bounds nesting (and $ref chains) of a JSON Schema's columns.
const maxJSONDepth = 32

func newJSONColumns(latest schemareg.Parsed) (*jsonColumns, error) {
	c := &jsonColumns{doc: latest.JSON}
	n := c.schemaNode(latest.JSON, 0)
	if m, ok := c.resolve(latest.JSON, 0); ok && jsonType(m) == "object" {
		if props, _ := m["properties"].(map[string]any); len(props) > 0 {
			c.group = unwrapOptional(n)
			return c, nil
		}
	}
	c.group, c.root = parquet.Group{"value": n}, true
	return c, nil
}

func (c *jsonColumns) node() parquet.Node { return c.group }

// resolve follows local $refs ("#/definitions/x", "#/$defs/x").
func (c *jsonColumns) resolve(s any, depth int) (map[string]any, bool) {
	for range maxJSONDepth {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, false
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, true
		}
		if !strings.HasPrefix(ref, "#") {
			return nil, false
		}
		s = c.doc
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
			if p == "" {
				continue
			}
			p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
			mm, ok := s.(map[string]any)
			if !ok {
				return nil, false
			}
			s = mm[p]
		}
	}
	return nil, false
}

// jsonType is the one non-null type of a schema, "" if none or several.
func jsonType(m map[string]any) string {
	var out string
	for _, t := range schemareg.JSONTypes(m["type"]) {
		if t == "null" {
			continue
		}
		if out != "" {
			return ""
		}
		out = t
	}
	return out
}

// schemaNode is s as an optional Parquet node.
func (c *jsonColumns) schemaNode(s any, depth int) parquet.Node {
	m, ok := c.resolve(s, depth)
	if !ok || depth > maxJSONDepth {
		return parquet.Optional(parquet.JSON())
	}
	switch jsonType(m) {
	case "object":
		props, _ := m["properties"].(map[string]any)
		if len(props) > 0 {
			g := parquet.Group{}
			for name, p := range props {
				g[name] = c.schemaNode(p, depth+1)
			}
			return parquet.Optional(g)
		}
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			return parquet.Optional(parquet.Map(parquet.String(), c.schemaNode(ap, depth+1)))
		}
	case "array":
		if items, ok := m["items"].(map[string]any); ok {
			return parquet.Optional(parquet.List(c.schemaNode(items, depth+1)))
		}
	case "string":
		switch m["format"] {
		case "date":
			return parquet.Optional(parquet.Date())
		case "date-time":
			return parquet.Optional(parquet.Timestamp(parquet.Microsecond))
		case "uuid":
			return parquet.Optional(parquet.UUID())
		}
		return parquet.Optional(parquet.String())
	case "integer":
		return parquet.Optional(parquet.Int(64))
	case "number":
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case "boolean":
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	}
	return parquet.Optional(parquet.JSON())
}

func (c *jsonColumns) decode(_ schemareg.Parsed, payload []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if d.More() {
		return nil, errors.New("json: more than one value")
	}
	out, err := c.value(c.doc, v, 0)
	if err != nil {
		return nil, err
	}
	if c.root {
		return map[string]any{"value": out}, nil
	}
	return out, nil
}

// value converts a decoded JSON value to the column shapes schemaNode
// gave s.
func (c *jsonColumns) value(s any, v any, depth int) (any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := c.resolve(s, depth)
	if !ok || depth > maxJSONDepth {
		return jsonText(v)
	}
	bad := func(what string) (any, error) { return nil, fmt.Errorf("json: %s wanted, got %s", what, jsonKind(v)) }
	switch jsonType(m) {
	case "object":
		obj, isObj := v.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		if len(props) > 0 {
			if !isObj {
				return bad("object")
			}
			out := make(map[string]any, len(props))
			for name, p := range props {
				e, err := c.value(p, obj[name], depth+1)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				out[name] = e
			}
			return out, nil
		}
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			if !isObj {
				return bad("object")
			}
			out := make([]coldfile.MapEntry, 0, len(obj))
			for _, k := range sortedKeys(obj) {
				e, err := c.value(ap, obj[k], depth+1)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				out = append(out, coldfile.MapEntry{Key: k, Value: e})
			}
			return out, nil
		}
	case "array":
		if items, ok := m["items"].(map[string]any); ok {
			arr, ok := v.([]any)
			if !ok {
				return bad("array")
			}
			out := make([]any, len(arr))
			for i, e := range arr {
				var err error
				if out[i], err = c.value(items, e, depth+1); err != nil {
					return nil, fmt.Errorf("[%d]: %w", i, err)
				}
			}
			return out, nil
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("string")
		}
		switch m["format"] {
		case "date":
			t, err := time.Parse(time.DateOnly, str)
			if err != nil {
				return nil, fmt.Errorf("json: date: %w", err)
			}
			return int32(t.Unix() / 86400), nil
		case "date-time":
			t, err := time.Parse(time.RFC3339Nano, str)
			if err != nil {
				return nil, fmt.Errorf("json: date-time: %w", err)
			}
			return t.UnixMicro(), nil
		case "uuid":
			return parseUUID(str)
		}
		return str, nil
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return bad("integer")
		}
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63 {
				return nil, fmt.Errorf("json: integer: %w", err)
			}
			i = int64(f)
		}
		return i, nil
	case "number":
		n, ok := v.(json.Number)
		if !ok {
			return bad("number")
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("json: number: %w", err)
		}
		return f, nil
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return bad("boolean")
		}
		return b, nil
	}
	return jsonText(v)
}

func jsonText(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return string(b), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}
