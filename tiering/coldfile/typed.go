package coldfile

import (
	"errors"
	"fmt"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Typed columns (docs/format/parquet.md, "Typed columns"): a file whose
// topic has a registered value schema also holds each value decoded, next
// to the raw bytes that stay the record's truth. The cold read path never
// reads them.
const (
	// ColValueTyped is an optional group shaped by the schema: null when
	// the value is null or did not decode.
	ColValueTyped = "value_typed"
	// ColValueError is an optional string: why the value did not decode,
	// null when it did (or is null).
	ColValueError = "value_error"
	// ColValueSchemaID is the optional INT32 schema id the value named in
	// its wire-format header (null when it has none).
	ColValueSchemaID = "value_schema_id"
)

// Field ids of the typed columns. Iceberg readers (iceberg-go) refuse a
// data file with a column without one; none of these is in the table's
// schema, so readers by id skip them. The fields inside value_typed are
// numbered from FirstTypedFieldID in the order of the file's columns: the
// ids are the file's own, not stable across schema versions.
const (
	FieldIDValueTyped    = 100
	FieldIDValueError    = 101
	FieldIDValueSchemaID = 102
	FirstTypedFieldID    = 10000
)

// withFieldIDs rebuilds the group, LIST or MAP n with a field id on every
// field, list element, map key and value inside it, from *next on.
func withFieldIDs(n parquet.Node, next *int) parquet.Node {
	id := func(f parquet.Node) parquet.Node {
		inner := withFieldIDs(f, next)
		if !f.Leaf() && f.Optional() {
			inner = parquet.Optional(inner)
		}
		out := parquet.FieldID(inner, *next)
		*next++
		return out
	}
	if n.Leaf() {
		return n
	}
	var lt format.LogicalTypeValue
	if l := n.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	switch lt.(type) {
	case *format.ListType:
		return parquet.List(id(n.Fields()[0].Fields()[0]))
	case *format.MapType:
		kv := n.Fields()[0].Fields()
		return parquet.Map(id(kv[0]), id(kv[1]))
	}
	g := parquet.Group{}
	for _, f := range n.Fields() {
		g[f.Name()] = id(f)
	}
	return g
}

// ValueDecoder turns record values into the typed column of one file. Its
// Node is fixed for the file; Decode is called once per non-null value.
//
// Decode returns the value in the shapes that match Node:
//   - a group: map[string]any by field name (a missing field is null);
//   - a LIST: []any;
//   - a MAP: []MapEntry;
//   - a leaf: nil (null) or the Go type of its physical type: bool,
//     int32, int64, float32, float64, string or []byte (BYTE_ARRAY),
//     []byte of the fixed length (FIXED_LEN_BYTE_ARRAY).
//
// A value that does not decode gets an error: its row keeps its raw bytes,
// value_typed is null and value_error holds the error's text.
type ValueDecoder interface {
	Node() parquet.Node
	Decode(value []byte) (typed any, schemaID int32, err error)
}

// ErrDecoderUnavailable is wrapped by a Decode error that is not about the
// value (the schema registry cannot be read): the file is not written, so
// that a later attempt decodes the value.
var ErrDecoderUnavailable = errors.New("tiering: value decoder unavailable")

// ErrNoTypedColumns is wrapped by errors of a decoder source that has a
// schema for a topic but no typed columns from it (a schema of no field the
// mapping knows): the file is written with the raw columns only.
var ErrNoTypedColumns = errors.New("tiering: no typed columns")

// MapEntry is one entry of a MAP value.
type MapEntry struct {
	Key   any
	Value any
}

// errShape is why a decoded value cannot be shredded into its column (a
// decoder's bug, kept to the record: value_error).
var errShape = errors.New("typed value does not match its column")

// tnode is a compiled node of the typed column: where its leaves are in
// the file and how to shred a value into them.
type tnode struct {
	kind     tkind
	optional bool
	name     string
	kindLeaf parquet.Kind
	fixedLen int
	col      int // leaf: column index in the file
	fields   []*tnode
	elem     *tnode // list element
	key, val *tnode // map
	first    int    // leaves: [first, end) in typed-column order
	end      int
}

type tkind uint8

const (
	tLeaf tkind = iota
	tGroup
	tList
	tMap
)

// typedLayout is the file schema of a typed file and how Row columns and
// typed leaves land in it.
type typedLayout struct {
	schema   *parquet.Schema
	baseCol  []int // Schema's column i is the file's column baseCol[i]
	root     *tnode
	leafCols []int // typed leaf k (in tnode order) is file column leafCols[k]
	errCol   int
	idCol    int
	// order lists the file's columns: >= 0 a Row column, < 0 ^typed slot
	// (leaves, then error, then id).
	order []int
}

func newTypedLayout(n parquet.Node) (*typedLayout, error) {
	if n.Leaf() {
		return nil, fmt.Errorf("typed column: %s must be a group", n)
	}
	g := parquet.Group{}
	for _, f := range Schema.Fields() {
		g[f.Name()] = f
	}
	next := FirstTypedFieldID
	g[ColValueTyped] = parquet.FieldID(parquet.Optional(withFieldIDs(n, &next)), FieldIDValueTyped)
	g[ColValueError] = parquet.FieldID(parquet.Optional(parquet.String()), FieldIDValueError)
	g[ColValueSchemaID] = parquet.FieldID(parquet.Optional(parquet.Int(32)), FieldIDValueSchemaID)
	l := &typedLayout{schema: parquet.NewSchema("strata", g)}
	for _, path := range Schema.Columns() {
		leaf, _ := l.schema.Lookup(path...)
		l.baseCol = append(l.baseCol, leaf.ColumnIndex)
	}
	var err error
	var field parquet.Field
	for _, f := range l.schema.Fields() {
		if f.Name() == ColValueTyped {
			field = f
		}
	}
	if l.root, err = l.compile(field, []string{ColValueTyped}); err != nil {
		return nil, err
	}
	leaf, _ := l.schema.Lookup(ColValueError)
	l.errCol = leaf.ColumnIndex
	leaf, _ = l.schema.Lookup(ColValueSchemaID)
	l.idCol = leaf.ColumnIndex
	nCols := len(l.schema.Columns())
	slot := make(map[int]int, nCols)
	for k, c := range l.leafCols {
		slot[c] = k
	}
	slot[l.errCol] = len(l.leafCols)
	slot[l.idCol] = len(l.leafCols) + 1
	base := make(map[int]int, len(l.baseCol))
	for i, c := range l.baseCol {
		base[c] = i
	}
	for c := range nCols {
		if i, ok := base[c]; ok {
			l.order = append(l.order, i)
		} else if k, ok := slot[c]; ok {
			l.order = append(l.order, ^k)
		} else {
			return nil, fmt.Errorf("typed column: file column %d unaccounted for", c)
		}
	}
	return l, nil
}

func (l *typedLayout) compile(n parquet.Field, path []string) (*tnode, error) {
	t := &tnode{optional: n.Optional(), name: n.Name(), first: len(l.leafCols)}
	if n.Repeated() {
		return nil, fmt.Errorf("typed column %v: repeated fields must be a LIST or MAP", path)
	}
	var lt format.LogicalTypeValue
	if l := n.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	_, isList := lt.(*format.ListType)
	_, isMap := lt.(*format.MapType)
	switch {
	case n.Leaf():
		t.kind = tLeaf
		t.kindLeaf = n.Type().Kind()
		t.fixedLen = n.Type().Length()
		leaf, ok := l.schema.Lookup(path...)
		if !ok {
			return nil, fmt.Errorf("typed column %v: not found", path)
		}
		t.col = leaf.ColumnIndex
		l.leafCols = append(l.leafCols, leaf.ColumnIndex)
	case isList:
		t.kind = tList
		rep := n.Fields()
		if len(rep) != 1 || !rep[0].Repeated() || len(rep[0].Fields()) != 1 {
			return nil, fmt.Errorf("typed column %v: malformed LIST", path)
		}
		el := rep[0].Fields()[0]
		e, err := l.compile(el, append(slices.Clip(path), rep[0].Name(), el.Name()))
		if err != nil {
			return nil, err
		}
		t.elem = e
	case isMap:
		t.kind = tMap
		rep := n.Fields()
		if len(rep) != 1 || !rep[0].Repeated() || len(rep[0].Fields()) != 2 {
			return nil, fmt.Errorf("typed column %v: malformed MAP", path)
		}
		kv := rep[0].Fields() // key, value (sorted by name)
		p := append(slices.Clip(path), rep[0].Name())
		var err error
		if t.key, err = l.compile(kv[0], append(slices.Clip(p), kv[0].Name())); err != nil {
			return nil, err
		}
		if t.val, err = l.compile(kv[1], append(slices.Clip(p), kv[1].Name())); err != nil {
			return nil, err
		}
	default:
		t.kind = tGroup
		for _, f := range n.Fields() {
			c, err := l.compile(f, append(slices.Clip(path), f.Name()))
			if err != nil {
				return nil, err
			}
			t.fields = append(t.fields, c)
		}
	}
	t.end = len(l.leafCols)
	return t, nil
}

// shredder turns typed values into the values of the typed leaves.
type shredder struct {
	l        *typedLayout
	cols     [][]parquet.Value // per typed slot
	baseCols [][]parquet.Value // per Row column, of the current row
}

func (s *shredder) reset() {
	if s.cols == nil {
		s.cols = make([][]parquet.Value, len(s.l.leafCols)+2)
	}
	for i := range s.cols {
		s.cols[i] = s.cols[i][:0]
	}
}

// nulls writes a null at (rep, def) to every leaf of t.
func (s *shredder) nulls(t *tnode, rep, def int) {
	for k := t.first; k < t.end; k++ {
		s.cols[k] = append(s.cols[k], parquet.Value{}.Level(rep, def, s.l.leafCols[k]))
	}
}

func (s *shredder) shred(t *tnode, v any, rep, def, depth int) error {
	if v == nil {
		if !t.optional {
			return fmt.Errorf("%w: %s is required", errShape, t.name)
		}
		s.nulls(t, rep, def)
		return nil
	}
	if t.optional {
		def++
	}
	switch t.kind {
	case tLeaf:
		pv, err := leafValue(t, v)
		if err != nil {
			return err
		}
		s.cols[t.first] = append(s.cols[t.first], pv.Level(rep, def, t.col))
	case tGroup:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %s wants a map[string]any, got %T", errShape, t.name, v)
		}
		for _, f := range t.fields {
			if err := s.shred(f, m[f.name], rep, def, depth); err != nil {
				return err
			}
		}
	case tList:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%w: %s wants a []any, got %T", errShape, t.name, v)
		}
		return s.repeated(t, len(l), rep, def, depth, func(i, rep int) error {
			return s.shred(t.elem, l[i], rep, def+1, depth+1)
		})
	case tMap:
		l, ok := v.([]MapEntry)
		if !ok {
			return fmt.Errorf("%w: %s wants a []MapEntry, got %T", errShape, t.name, v)
		}
		return s.repeated(t, len(l), rep, def, depth, func(i, rep int) error {
			if err := s.shred(t.key, l[i].Key, rep, def+1, depth+1); err != nil {
				return err
			}
			return s.shred(t.val, l[i].Value, rep, def+1, depth+1)
		})
	}
	return nil
}

// repeated shreds the n elements of LIST or MAP t (present, at def): an
// empty one is a null at def; elements after the first repeat at the
// level below depth.
func (s *shredder) repeated(t *tnode, n, rep, def, depth int, elem func(i, rep int) error) error {
	if n == 0 {
		s.nulls(t, rep, def)
		return nil
	}
	for i := range n {
		if i > 0 {
			rep = depth + 1
		}
		if err := elem(i, rep); err != nil {
			return err
		}
	}
	return nil
}

func leafValue(t *tnode, v any) (parquet.Value, error) {
	ok := false
	var pv parquet.Value
	switch t.kindLeaf {
	case parquet.Boolean:
		var b bool
		b, ok = v.(bool)
		pv = parquet.BooleanValue(b)
	case parquet.Int32:
		var n int32
		n, ok = v.(int32)
		pv = parquet.Int32Value(n)
	case parquet.Int64:
		var n int64
		n, ok = v.(int64)
		pv = parquet.Int64Value(n)
	case parquet.Float:
		var f float32
		f, ok = v.(float32)
		pv = parquet.FloatValue(f)
	case parquet.Double:
		var f float64
		f, ok = v.(float64)
		pv = parquet.DoubleValue(f)
	case parquet.ByteArray:
		switch b := v.(type) {
		case string:
			pv, ok = parquet.ByteArrayValue([]byte(b)), true
		case []byte:
			pv, ok = parquet.ByteArrayValue(b), true
		}
	case parquet.FixedLenByteArray:
		var b []byte
		b, ok = v.([]byte)
		ok = ok && len(b) == t.fixedLen
		pv = parquet.FixedLenByteArrayValue(b)
	}
	if !ok {
		return parquet.Value{}, fmt.Errorf("%w: %s (%s) got %T", errShape, t.name, t.kindLeaf, v)
	}
	return pv, nil
}

// typedRow appends to out the file row of r: its Row columns (base, as
// Schema.Deconstruct made them) and its typed slots, in file column order.
func (s *shredder) typedRow(out parquet.Row, base parquet.Row, dec ValueDecoder, value []byte) (parquet.Row, error) {
	s.reset()
	l := s.l
	nslot := len(l.leafCols)
	var errText string
	id := int32(-1)
	if value != nil {
		typed, sid, err := dec.Decode(value)
		if errors.Is(err, ErrDecoderUnavailable) {
			return nil, err
		}
		id = sid
		if err == nil {
			err = s.shred(l.root, typed, 0, 0, 0)
		}
		if err != nil {
			s.reset()
			s.nulls(l.root, 0, 0)
			errText = err.Error()
		}
	} else {
		s.nulls(l.root, 0, 0)
	}
	if errText != "" {
		s.cols[nslot] = append(s.cols[nslot], parquet.ByteArrayValue([]byte(errText)).Level(0, 1, l.errCol))
	} else {
		s.cols[nslot] = append(s.cols[nslot], parquet.Value{}.Level(0, 0, l.errCol))
	}
	if id >= 0 {
		s.cols[nslot+1] = append(s.cols[nslot+1], parquet.Int32Value(id).Level(0, 1, l.idCol))
	} else {
		s.cols[nslot+1] = append(s.cols[nslot+1], parquet.Value{}.Level(0, 0, l.idCol))
	}
	if s.baseCols == nil {
		s.baseCols = make([][]parquet.Value, len(l.baseCol))
	}
	baseCols := s.baseCols
	base.Range(func(c int, vs []parquet.Value) bool {
		baseCols[c] = vs
		return true
	})
	for c, src := range l.order {
		if src >= 0 {
			for _, v := range baseCols[src] {
				out = append(out, v.Level(v.RepetitionLevel(), v.DefinitionLevel(), c))
			}
		} else {
			out = append(out, s.cols[^src]...)
		}
	}
	return out, nil
}
