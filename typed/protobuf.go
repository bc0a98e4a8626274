package typed

import (
	"fmt"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Protobuf to Parquet (docs/format/parquet.md, "Typed columns"): the
// columns are the first message of the latest schema's file; a message is
// a group of optional fields by field name (oneof members are fields like
// the others), a repeated field a LIST, a map field a MAP, int32, sint32
// and sfixed32 INT32, int64, sint64, sfixed64, uint32 and fixed32 INT64,
// uint64 and fixed64 UINT64, float FLOAT, double DOUBLE, bool BOOLEAN,
// string STRING, bytes BYTE_ARRAY, an enum an ENUM string (the number when
// the schema has no name for it), google.protobuf.Timestamp a
// TIMESTAMP(MICROS, UTC). A field without presence (proto3 scalars) holds
// its default when unset; one with presence is null. A message that
// recurses into itself stops there: the field is left out.
//
// A record names its message by the indexes after its schema id; it is
// read with the columns' message when that has the same full name
// (Protobuf's wire format is by field number, and the registry's
// compatibility rules keep a number's kind), otherwise it is an error.

type protoColumns struct {
	msg   protoreflect.MessageDescriptor
	group parquet.Node
}

const timestampName = "google.protobuf.Timestamp"

func newProtoColumns(latest schemareg.Parsed) (*protoColumns, error) {
	ms := latest.Proto.Messages()
	if ms.Len() == 0 {
		return nil, fmt.Errorf("protobuf schema %s has no message", latest.Proto.Path())
	}
	md := ms.Get(0)
	g, ok := protoMessageNode(md, nil)
	if !ok {
		return nil, fmt.Errorf("protobuf message %s has no typed columns", md.FullName())
	}
	return &protoColumns{msg: md, group: g}, nil
}

func (c *protoColumns) node() parquet.Node { return c.group }

func protoMessageNode(md protoreflect.MessageDescriptor, path []protoreflect.FullName) (parquet.Node, bool) {
	for _, p := range path {
		if p == md.FullName() {
			return nil, false
		}
	}
	path = append(path, md.FullName())
	g := parquet.Group{}
	fs := md.Fields()
	for i := range fs.Len() {
		if n, ok := protoFieldNode(fs.Get(i), path); ok {
			g[string(fs.Get(i).Name())] = n
		}
	}
	return g, len(g) > 0
}

func protoFieldNode(fd protoreflect.FieldDescriptor, path []protoreflect.FullName) (parquet.Node, bool) {
	switch {
	case fd.IsMap():
		v, ok := protoSingularNode(fd.MapValue(), path)
		if !ok {
			return nil, false
		}
		k, _ := protoSingularNode(fd.MapKey(), path)
		return parquet.Optional(parquet.Map(parquet.Required(k), v)), true
	case fd.IsList():
		e, ok := protoSingularNode(fd, path)
		if !ok {
			return nil, false
		}
		return parquet.Optional(parquet.List(e)), true
	}
	return protoSingularNode(fd, path)
}

func protoSingularNode(fd protoreflect.FieldDescriptor, path []protoreflect.FullName) (parquet.Node, bool) {
	var n parquet.Node
	switch fd.Kind() {
	case protoreflect.BoolKind:
		n = parquet.Leaf(parquet.BooleanType)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n = parquet.Int(32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n = parquet.Int(64)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n = parquet.Uint(64)
	case protoreflect.FloatKind:
		n = parquet.Leaf(parquet.FloatType)
	case protoreflect.DoubleKind:
		n = parquet.Leaf(parquet.DoubleType)
	case protoreflect.StringKind:
		n = parquet.String()
	case protoreflect.BytesKind:
		n = parquet.Leaf(parquet.ByteArrayType)
	case protoreflect.EnumKind:
		n = parquet.Enum()
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.Message().FullName() == timestampName {
			n = parquet.Timestamp(parquet.Microsecond)
			break
		}
		g, ok := protoMessageNode(fd.Message(), path)
		if !ok {
			return nil, false
		}
		n = g
	default:
		return nil, false
	}
	return parquet.Optional(n), true
}

func (c *protoColumns) decode(w schemareg.Parsed, payload []byte) (any, error) {
	idx, msg, err := ParseMessageIndexes(payload)
	if err != nil {
		return nil, err
	}
	wmd, err := messageAt(w.Proto, idx)
	if err != nil {
		return nil, err
	}
	if wmd.FullName() != c.msg.FullName() {
		return nil, fmt.Errorf("protobuf: the record is a %s, the columns are %s", wmd.FullName(), c.msg.FullName())
	}
	m := dynamicpb.NewMessage(c.msg)
	if err := (proto.UnmarshalOptions{RecursionLimit: 64}).Unmarshal(msg, m); err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	return protoMessageValue(m, nil), nil
}

// messageAt follows Confluent's message indexes: a top-level message, then
// nested ones.
func messageAt(fd protoreflect.FileDescriptor, idx []int) (protoreflect.MessageDescriptor, error) {
	ms := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= ms.Len() {
			return nil, fmt.Errorf("protobuf: message index %v is not in the schema", idx)
		}
		md = ms.Get(i)
		ms = md.Messages()
	}
	return md, nil
}

func protoMessageValue(m protoreflect.Message, path []protoreflect.FullName) any {
	md := m.Descriptor()
	for _, p := range path {
		if p == md.FullName() {
			return nil
		}
	}
	path = append(path, md.FullName())
	fs := md.Fields()
	out := make(map[string]any, fs.Len())
	for i := range fs.Len() {
		fd := fs.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			mv := v.Map()
			entries := make([]coldfile.MapEntry, 0, mv.Len())
			mv.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				entries = append(entries, coldfile.MapEntry{Key: protoScalar(fd.MapKey(), k.Value(), path), Value: protoScalar(fd.MapValue(), v, path)})
				return true
			})
			out[string(fd.Name())] = entries
		case fd.IsList():
			l := v.List()
			arr := make([]any, l.Len())
			for j := range arr {
				arr[j] = protoScalar(fd, l.Get(j), path)
			}
			out[string(fd.Name())] = arr
		default:
			out[string(fd.Name())] = protoScalar(fd, v, path)
		}
	}
	return out
}

func protoScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value, path []protoreflect.FullName) any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return int32(v.Int())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return int64(v.Uint()) // UINT64: the same 64 bits
	case protoreflect.FloatKind:
		return float32(v.Float())
	case protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.StringKind:
		return v.String()
	case protoreflect.BytesKind:
		return v.Bytes()
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		if fd.Message().FullName() == timestampName {
			f := m.Descriptor().Fields()
			return m.Get(f.ByName("seconds")).Int()*1_000_000 + m.Get(f.ByName("nanos")).Int()/1000
		}
		return protoMessageValue(m, path)
	}
	return nil
}
