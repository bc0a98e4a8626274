package schemareg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema types, by Confluent's names.
const (
	TypeAvro     = "AVRO"
	TypeProtobuf = "PROTOBUF"
	TypeJSON     = "JSON"
)

// ref is a resolved reference: the name the schema imports it by and the
// referenced schema's text (itself resolved, depth first).
type ref struct {
	name   string
	schema string
	refs   []ref
}

// parsed is a schema a format library accepted.
type parsed interface {
	// canonical is the form used for identity (ids, lookups).
	canonical() string
	// readable returns the reasons data written with writer cannot be read
	// with the receiver, none if it can.
	readable(writer parsed) []string
}

// parse parses text of schemaType with its references through the
// format's library.
func parse(schemaType, text string, refs []ref) (parsed, error) {
	switch schemaType {
	case TypeAvro:
		return parseAvro(text, refs)
	case TypeProtobuf:
		return parseProto(text, refs)
	case TypeJSON:
		return parseJSON(text, refs)
	}
	return nil, fmt.Errorf("unknown schema type %q", schemaType)
}

// --- Avro (github.com/hamba/avro/v2) ---

type avroSchema struct{ s avro.Schema }

func parseAvro(text string, refs []ref) (parsed, error) {
	cache := &avro.SchemaCache{} // never the library's global cache: names of one schema must not leak into another
	var walk func([]ref) error
	walk = func(rs []ref) error {
		for _, r := range rs {
			if err := walk(r.refs); err != nil {
				return err
			}
			if _, err := avro.ParseWithCache(r.schema, "", cache); err != nil {
				return fmt.Errorf("reference %q: %w", r.name, err)
			}
		}
		return nil
	}
	if err := walk(refs); err != nil {
		return nil, err
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, err
	}
	return avroSchema{s}, nil
}

func (a avroSchema) canonical() string { return a.s.String() }

func (a avroSchema) readable(writer parsed) []string {
	w, ok := writer.(avroSchema)
	if !ok {
		return []string{"schema type changed"}
	}
	if err := avro.NewSchemaCompatibility().Compatible(a.s, w.s); err != nil {
		return []string{err.Error()}
	}
	return nil
}

// --- Protobuf (github.com/bufbuild/protocompile) ---

type protoSchema struct {
	text string
	fd   protoreflect.FileDescriptor
}

const protoMainFile = "strata-schema-registry-main.proto"

func parseProto(text string, refs []ref) (parsed, error) {
	srcs := map[string]string{protoMainFile: text}
	var walk func([]ref)
	walk = func(rs []ref) {
		for _, r := range rs {
			srcs[r.name] = r.schema
			walk(r.refs)
		}
	}
	walk(refs)
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(srcs)})}
	files, err := c.Compile(context.Background(), protoMainFile)
	if err != nil {
		return nil, err
	}
	return protoSchema{text: strings.TrimSpace(text), fd: files[0]}, nil
}

func (p protoSchema) canonical() string { return p.text }

// readable follows Confluent's Protobuf rules: the package stays, no
// message goes, a field number keeps its kind (within Confluent's groups
// of wire-compatible scalars), its cardinality and its named type, and
// no required (proto2) field comes or goes. Removing or adding optional
// fields is compatible.
func (p protoSchema) readable(writer parsed) []string {
	w, ok := writer.(protoSchema)
	if !ok {
		return []string{"schema type changed"}
	}
	var msgs []string
	if p.fd.Package() != w.fd.Package() {
		msgs = append(msgs, fmt.Sprintf("PACKAGE_CHANGED: %q to %q", w.fd.Package(), p.fd.Package()))
	}
	readerMsgs := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	eachMessage(p.fd.Messages(), func(m protoreflect.MessageDescriptor) { readerMsgs[m.FullName()] = m })
	eachMessage(w.fd.Messages(), func(wm protoreflect.MessageDescriptor) {
		rm, ok := readerMsgs[wm.FullName()]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("MESSAGE_REMOVED: %s", wm.FullName()))
			return
		}
		wf, rf := wm.Fields(), rm.Fields()
		for i := range wf.Len() {
			f := wf.Get(i)
			g := rf.ByNumber(f.Number())
			if g == nil {
				if f.Cardinality() == protoreflect.Required {
					msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s", f.FullName()))
				}
				continue
			}
			switch {
			case f.IsMap() != g.IsMap() || (f.Cardinality() == protoreflect.Repeated) != (g.Cardinality() == protoreflect.Repeated):
				msgs = append(msgs, fmt.Sprintf("FIELD_KIND_CHANGED: %s", g.FullName()))
			case protoGroup(f.Kind()) != protoGroup(g.Kind()):
				msgs = append(msgs, fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s from %s to %s", g.FullName(), f.Kind(), g.Kind()))
			case namedType(f) != namedType(g):
				msgs = append(msgs, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", g.FullName(), namedType(f), namedType(g)))
			}
		}
		for i := range rf.Len() {
			g := rf.Get(i)
			if g.Cardinality() == protoreflect.Required && wf.ByNumber(g.Number()) == nil {
				msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s", g.FullName()))
			}
		}
	})
	return msgs
}

func eachMessage(ms protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range ms.Len() {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		fn(m)
		eachMessage(m.Messages(), fn)
	}
}

// protoGroup puts wire-compatible scalar kinds in one group, as Confluent does.
func protoGroup(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "bytes"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "message"
	}
	return k.String()
}

func namedType(f protoreflect.FieldDescriptor) protoreflect.FullName {
	if m := f.Message(); m != nil {
		return m.FullName()
	}
	if e := f.Enum(); e != nil {
		return e.FullName()
	}
	return ""
}

// --- JSON Schema (github.com/santhosh-tekuri/jsonschema/v6) ---

type jsonSchema struct {
	doc       any
	canonText string
}

const jsonMainURL = "strata-schema-registry:///main.json"

func parseJSON(text string, refs []ref) (parsed, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{}) // never fetch a $ref from the network or disk
	var walk func([]ref) error
	walk = func(rs []ref) error {
		for _, r := range rs {
			rd, err := jsonschema.UnmarshalJSON(strings.NewReader(r.schema))
			if err != nil {
				return fmt.Errorf("reference %q: %w", r.name, err)
			}
			if err := c.AddResource(r.name, rd); err != nil {
				return fmt.Errorf("reference %q: %w", r.name, err)
			}
			if err := walk(r.refs); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(refs); err != nil {
		return nil, err
	}
	if err := c.AddResource(jsonMainURL, doc); err != nil {
		return nil, err
	}
	if _, err := c.Compile(jsonMainURL); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil { // sorted keys, no spaces
		return nil, err
	}
	return jsonSchema{doc: doc, canonText: strings.TrimSpace(buf.String())}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("reference %q is not among the schema's references", url)
}

func (j jsonSchema) canonical() string { return j.canonText }

func (j jsonSchema) readable(writer parsed) []string {
	w, ok := writer.(jsonSchema)
	if !ok {
		return []string{"schema type changed"}
	}
	var msgs []string
	jsonReadable("#", j.doc, w.doc, &msgs)
	return msgs
}

// jsonReadable checks, for the common cases of Confluent's JSON Schema
// rules, that every instance valid under writer is valid under reader:
// types may widen (integer to number) but not narrow; a property added to
// an open content model or removed from a closed one is incompatible; a
// property newly required is incompatible; enums may grow, not shrink;
// properties and items are checked recursively.
func jsonReadable(path string, reader, writer any, msgs *[]string) {
	r, rok := reader.(map[string]any)
	w, wok := writer.(map[string]any)
	if !rok || !wok {
		if rb, ok := reader.(bool); ok && rb {
			return // true accepts everything
		}
		if fmt.Sprint(reader) != fmt.Sprint(writer) {
			*msgs = append(*msgs, fmt.Sprintf("SCHEMA_CHANGED at %s", path))
		}
		return
	}
	rt, wt := JSONTypes(r["type"]), JSONTypes(w["type"])
	if rt != nil {
		if wt == nil {
			*msgs = append(*msgs, fmt.Sprintf("TYPE_NARROWED at %s: any to %v", path, rt))
		}
		for _, t := range wt {
			if !slices.Contains(rt, t) && (t != "integer" || !slices.Contains(rt, "number")) {
				*msgs = append(*msgs, fmt.Sprintf("TYPE_CHANGED at %s: %v to %v", path, wt, rt))
				break
			}
		}
	}
	if re, ok := r["enum"].([]any); ok {
		we, _ := w["enum"].([]any)
		if we == nil {
			*msgs = append(*msgs, fmt.Sprintf("ENUM_ARRAY_NARROWED at %s", path))
		}
		for _, v := range we {
			if !slices.ContainsFunc(re, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
				*msgs = append(*msgs, fmt.Sprintf("ENUM_ARRAY_NARROWED at %s: %v removed", path, v))
			}
		}
	}
	rp, _ := r["properties"].(map[string]any)
	wp, _ := w["properties"].(map[string]any)
	for name, ws := range wp {
		if rs, ok := rp[name]; ok {
			jsonReadable(path+"/properties/"+name, rs, ws, msgs)
		} else if closed(r) {
			*msgs = append(*msgs, fmt.Sprintf("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at %s: %s", path, name))
		}
	}
	for name := range rp {
		if _, ok := wp[name]; !ok && !closed(w) {
			*msgs = append(*msgs, fmt.Sprintf("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at %s: %s", path, name))
		}
	}
	rreq, _ := r["required"].([]any)
	wreq, _ := w["required"].([]any)
	for _, name := range rreq {
		if !slices.Contains(wreq, name) {
			*msgs = append(*msgs, fmt.Sprintf("REQUIRED_PROPERTY_ADDED at %s: %v", path, name))
		}
	}
	if ri, ok := r["items"]; ok {
		if wi, ok := w["items"]; ok {
			jsonReadable(path+"/items", ri, wi, msgs)
		}
	}
}

// JSONTypes reads a JSON Schema "type" keyword: one type name or a list of
// them.
func JSONTypes(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// closed reports whether an object schema refuses properties it does not name.
func closed(s map[string]any) bool {
	if b, ok := s["additionalProperties"].(bool); ok && !b {
		return true
	}
	if b, ok := s["unevaluatedProperties"].(bool); ok && !b {
		return true
	}
	return false
}
