package typed

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
)

// Avro to Parquet (docs/format/parquet.md, "Typed columns"): a record is a
// group of optional fields, an array a LIST, a map a MAP with string keys,
// an enum an ENUM string, a fixed a FIXED_LEN_BYTE_ARRAY; the union of null
// and one type is that type (optional), any other union a group with one
// field per branch, named by the branch's type name (the short name of
// named types), of which the value's branch is set. Logical types: date
// DATE, time-millis TIME(MILLIS), time-micros TIME(MICROS),
// timestamp-millis/-micros TIMESTAMP(MILLIS/MICROS, UTC), local-timestamp-*
// TIMESTAMP(not UTC), uuid UUID, decimal DECIMAL (INT32 up to 9 digits,
// INT64 up to 18, FIXED_LEN_BYTE_ARRAY above). A record that recurses into
// itself stops there: the field is left out.

// avroColumns is the reader side of an Avro subject: the Parquet group and
// the schema values are converted to.
type avroColumns struct {
	readerID int32
	reader   avro.Schema
	group    parquet.Node
	root     bool // reader is not a record: the group is {value: T}

	mu       sync.Mutex
	resolved map[int32]resolvedAvro // by writer id
}

type resolvedAvro struct {
	schema avro.Schema
	err    error
}

func newAvroColumns(latest schemareg.Parsed) (*avroColumns, error) {
	reader := latest.Avro
	c := &avroColumns{readerID: latest.ID, reader: reader, resolved: map[int32]resolvedAvro{}}
	if deref(reader).Type() != avro.Record {
		n, ok := avroNode(reader, nil)
		if !ok {
			return nil, fmt.Errorf("avro schema %s has no typed columns", reader.Type())
		}
		c.group, c.root = parquet.Group{"value": n}, true
		return c, nil
	}
	n, ok := avroNode(reader, nil)
	if !ok {
		return nil, errors.New("avro record has no typed columns")
	}
	c.group = unwrapOptional(n)
	return c, nil
}

func unwrapOptional(n parquet.Node) parquet.Node {
	if n.Optional() {
		return parquet.Required(n)
	}
	return n
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// avroNode is s as an optional Parquet node; false if it has no column
// (null, a record without fields, a record inside itself).
func avroNode(s avro.Schema, path []string) (parquet.Node, bool) {
	s = deref(s)
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		if n, ok := avroLogicalNode(s, lt.Logical()); ok {
			return parquet.Optional(n), true
		}
	}
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Boolean:
			return parquet.Optional(parquet.Leaf(parquet.BooleanType)), true
		case avro.Int:
			return parquet.Optional(parquet.Int(32)), true
		case avro.Long:
			return parquet.Optional(parquet.Int(64)), true
		case avro.Float:
			return parquet.Optional(parquet.Leaf(parquet.FloatType)), true
		case avro.Double:
			return parquet.Optional(parquet.Leaf(parquet.DoubleType)), true
		case avro.Bytes:
			return parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), true
		case avro.String:
			return parquet.Optional(parquet.String()), true
		}
		return nil, false
	case *avro.EnumSchema:
		return parquet.Optional(parquet.Enum()), true
	case *avro.FixedSchema:
		return parquet.Optional(parquet.Leaf(parquet.FixedLenByteArrayType(s.Size()))), true
	case *avro.ArraySchema:
		e, ok := avroNode(s.Items(), path)
		if !ok {
			return nil, false
		}
		return parquet.Optional(parquet.List(e)), true
	case *avro.MapSchema:
		v, ok := avroNode(s.Values(), path)
		if !ok {
			return nil, false
		}
		return parquet.Optional(parquet.Map(parquet.String(), v)), true
	case *avro.RecordSchema:
		for _, p := range path {
			if p == s.FullName() {
				return nil, false
			}
		}
		path = append(path, s.FullName())
		g := parquet.Group{}
		for _, f := range s.Fields() {
			if n, ok := avroNode(f.Type(), path); ok {
				g[f.Name()] = n
			}
		}
		if len(g) == 0 {
			return nil, false
		}
		return parquet.Optional(g), true
	case *avro.UnionSchema:
		if t, ok := nullableBranch(s); ok {
			return avroNode(t, path)
		}
		g := parquet.Group{}
		for _, t := range s.Types() {
			if n, ok := avroNode(t, path); ok {
				g[branchName(t)] = n
			}
		}
		if len(g) == 0 {
			return nil, false
		}
		return parquet.Optional(g), true
	}
	return nil, false
}

func avroLogicalNode(s avro.Schema, l avro.LogicalSchema) (parquet.Node, bool) {
	switch l.Type() {
	case avro.Date:
		return parquet.Date(), s.Type() == avro.Int
	case avro.TimeMillis:
		return parquet.Time(parquet.Millisecond), s.Type() == avro.Int
	case avro.TimeMicros:
		return parquet.Time(parquet.Microsecond), s.Type() == avro.Long
	case avro.TimestampMillis:
		return parquet.Timestamp(parquet.Millisecond), s.Type() == avro.Long
	case avro.TimestampMicros:
		return parquet.Timestamp(parquet.Microsecond), s.Type() == avro.Long
	case avro.LocalTimestampMillis:
		return parquet.TimestampAdjusted(parquet.Millisecond, false), s.Type() == avro.Long
	case avro.LocalTimestampMicros:
		return parquet.TimestampAdjusted(parquet.Microsecond, false), s.Type() == avro.Long
	case avro.UUID:
		return parquet.UUID(), s.Type() == avro.String
	case avro.Decimal:
		d := l.(*avro.DecimalLogicalSchema)
		return decimalNode(d.Scale(), d.Precision()), d.Precision() > 0
	}
	return nil, false
}

func decimalNode(scale, precision int) parquet.Node {
	switch {
	case precision <= 9:
		return parquet.Decimal(scale, precision, parquet.Int32Type)
	case precision <= 18:
		return parquet.Decimal(scale, precision, parquet.Int64Type)
	}
	return parquet.Decimal(scale, precision, parquet.FixedLenByteArrayType(decimalBytes(precision)))
}

// decimalBytes is the fewest bytes that hold a signed unscaled value of
// precision digits.
func decimalBytes(precision int) int {
	return int(math.Ceil((float64(precision)*math.Log2(10) + 1) / 8))
}

// nullableBranch returns T of the union [null, T] (either order).
func nullableBranch(u *avro.UnionSchema) (avro.Schema, bool) {
	ts := u.Types()
	if len(ts) != 2 {
		return nil, false
	}
	switch {
	case ts[0].Type() == avro.Null:
		return ts[1], true
	case ts[1].Type() == avro.Null:
		return ts[0], true
	}
	return nil, false
}

// branchName names a union branch's field: a named type's short name, or
// the type (with its logical type: "long_timestamp_millis").
func branchName(s avro.Schema) string { return typeName(s, false) }

// fullBranchName is hamba's key of a union branch when it wraps one.
func fullBranchName(s avro.Schema) string { return typeName(s, true) }

func typeName(s avro.Schema, full bool) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		if full {
			return n.FullName()
		}
		return n.Name()
	}
	name := string(s.Type())
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		if full {
			return name + "." + string(lt.Logical().Type())
		}
		name += "_" + strings.ReplaceAll(string(lt.Logical().Type()), "-", "_")
	}
	return name
}

func (c *avroColumns) node() parquet.Node { return c.group }

// writerSchema is the schema payloads of writer are read with: the reader
// schema itself, or writer resolved to it (Avro schema resolution: fields
// added with defaults, promotions such as int to long).
func (c *avroColumns) writerSchema(w schemareg.Parsed) (avro.Schema, error) {
	if w.ID == c.readerID {
		return c.reader, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.resolved[w.ID]
	if !ok {
		r.schema, r.err = avro.NewSchemaCompatibility().Resolve(c.reader, w.Avro)
		if r.err != nil {
			r.err = fmt.Errorf("avro: not readable as schema id %d: %w", c.readerID, r.err)
		}
		c.resolved[w.ID] = r
	}
	return r.schema, r.err
}

// maxAvroElements bounds the elements of one array of a value: an array's
// block count is the payload's to claim, and hamba/avro allocates it at
// once (a 9-byte record asking for 2^40 longs ran the broker out of
// memory, TestDecodeAvroBombs). Elements of most types take a byte or more,
// so a record of max.message.bytes (1 MiB by default) stays within it.
const maxAvroElements = 1 << 20

var avroAPI = avro.Config{MaxSliceAllocSize: maxAvroElements}.Freeze()

// decode unmarshals an Avro payload written with w and returns it in
// column shapes.
func (c *avroColumns) decode(w schemareg.Parsed, payload []byte) (any, error) {
	schema, err := c.writerSchema(w)
	if err != nil {
		return nil, err
	}
	// Not avro.Unmarshal: it takes a payload cut short (io.EOF) for a
	// whole one.
	var v any
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(avroAPI)).Reset(payload)
	r.ReadVal(schema, &v)
	if errors.Is(r.Error, io.EOF) {
		return nil, errors.New("avro: payload ends inside the value")
	}
	if r.Error != nil {
		return nil, fmt.Errorf("avro: %w", r.Error)
	}
	out, err := avroValue(c.reader, v, nil)
	if err != nil {
		return nil, err
	}
	if c.root {
		return map[string]any{"value": out}, nil
	}
	return out, nil
}

// avroValue converts v, as hamba/avro decodes into an interface, to the
// column shapes of s.
func avroValue(s avro.Schema, v any, path []string) (any, error) {
	s = deref(s)
	if v == nil {
		return nil, nil
	}
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		if _, ok := avroLogicalNode(s, lt.Logical()); ok {
			return avroLogicalValue(lt.Logical(), v)
		}
	}
	bad := func() (any, error) { return nil, fmt.Errorf("avro: %s value of Go type %T", s.Type(), v) }
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Boolean:
			if b, ok := v.(bool); ok {
				return b, nil
			}
		case avro.Int:
			if n, ok := asInt64(v); ok && n >= math.MinInt32 && n <= math.MaxInt32 {
				return int32(n), nil
			}
		case avro.Long:
			if n, ok := asInt64(v); ok {
				return n, nil
			}
		case avro.Float:
			switch f := v.(type) {
			case float32:
				return f, nil
			case float64:
				return float32(f), nil
			}
			if n, ok := asInt64(v); ok {
				return float32(n), nil
			}
		case avro.Double:
			switch f := v.(type) {
			case float32:
				return float64(f), nil
			case float64:
				return f, nil
			}
			if n, ok := asInt64(v); ok {
				return float64(n), nil
			}
		case avro.Bytes:
			switch b := v.(type) {
			case []byte:
				return b, nil
			case string:
				return []byte(b), nil
			}
		case avro.String:
			switch b := v.(type) {
			case string:
				return b, nil
			case []byte:
				return string(b), nil
			}
		}
		return bad()
	case *avro.EnumSchema:
		if str, ok := v.(string); ok {
			return str, nil
		}
		return bad()
	case *avro.FixedSchema:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 && rv.Len() == s.Size() {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b, nil
		}
		if b, ok := v.([]byte); ok && len(b) == s.Size() {
			return b, nil
		}
		return bad()
	case *avro.ArraySchema:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		out := make([]any, len(a))
		for i, e := range a {
			var err error
			if out[i], err = avroValue(s.Items(), e, path); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		out := make([]coldfile.MapEntry, 0, len(m))
		for _, k := range sortedKeys(m) {
			e, err := avroValue(s.Values(), m[k], path)
			if err != nil {
				return nil, err
			}
			out = append(out, coldfile.MapEntry{Key: k, Value: e})
		}
		return out, nil
	case *avro.RecordSchema:
		for _, p := range path {
			if p == s.FullName() {
				return nil, nil // left out of the columns (recursion)
			}
		}
		path = append(path, s.FullName())
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			e, err := avroValue(f.Type(), m[f.Name()], path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			out[f.Name()] = e
		}
		return out, nil
	case *avro.UnionSchema:
		t, val := unionBranch(s, v)
		if t == nil {
			return nil, fmt.Errorf("avro: no branch of union %s for Go type %T", s.String(), v)
		}
		e, err := avroValue(t, val, path)
		if err != nil || e == nil {
			return nil, err
		}
		if _, ok := nullableBranch(s); ok {
			return e, nil
		}
		return map[string]any{branchName(t): e}, nil
	}
	return bad()
}

// unionBranch finds the branch of u that v (hamba's decoding of a union
// into an interface: the value itself, or {full branch name: value} when
// the value alone would be ambiguous) belongs to.
func unionBranch(u *avro.UnionSchema, v any) (avro.Schema, any) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, t := range u.Types() {
			if val, ok := m[fullBranchName(t)]; ok {
				return t, val
			}
		}
	}
	for _, t := range u.Types() {
		if t.Type() != avro.Null && goTypeFits(deref(t), v) {
			return t, v
		}
	}
	return nil, nil
}

func goTypeFits(s avro.Schema, v any) bool {
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		switch v.(type) {
		case time.Time, time.Duration, *big.Rat:
			return true
		}
	}
	switch v.(type) {
	case bool:
		return s.Type() == avro.Boolean
	case int, int32:
		return s.Type() == avro.Int
	case int64:
		return s.Type() == avro.Long
	case float32:
		return s.Type() == avro.Float
	case float64:
		return s.Type() == avro.Double
	case string:
		return s.Type() == avro.String || s.Type() == avro.Enum
	case []byte:
		return s.Type() == avro.Bytes
	case []any:
		return s.Type() == avro.Array
	case map[string]any:
		return s.Type() == avro.Record || s.Type() == avro.Map
	}
	return s.Type() == avro.Fixed && reflect.ValueOf(v).Kind() == reflect.Array
}

func avroLogicalValue(l avro.LogicalSchema, v any) (any, error) {
	switch l.Type() {
	case avro.Date:
		if t, ok := v.(time.Time); ok {
			return int32(t.Unix() / 86400), nil
		}
	case avro.TimeMillis:
		if d, ok := v.(time.Duration); ok {
			return int32(d / time.Millisecond), nil
		}
	case avro.TimeMicros:
		if d, ok := v.(time.Duration); ok {
			return int64(d / time.Microsecond), nil
		}
	case avro.TimestampMillis, avro.LocalTimestampMillis:
		if t, ok := v.(time.Time); ok {
			return t.UnixMilli(), nil
		}
	case avro.TimestampMicros, avro.LocalTimestampMicros:
		if t, ok := v.(time.Time); ok {
			return t.UnixMicro(), nil
		}
	case avro.UUID:
		if s, ok := v.(string); ok {
			return parseUUID(s)
		}
	case avro.Decimal:
		d := l.(*avro.DecimalLogicalSchema)
		if r, ok := v.(*big.Rat); ok {
			return decimalValue(r, d.Scale(), d.Precision())
		}
	}
	return nil, fmt.Errorf("avro: %s value of Go type %T", l.Type(), v)
}

// decimalValue is r's unscaled value in the physical type decimalNode
// chose.
func decimalValue(r *big.Rat, scale, precision int) (any, error) {
	u := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !u.IsInt() {
		return nil, fmt.Errorf("decimal %s has more than %d decimal places", r.FloatString(scale+2), scale)
	}
	n := new(big.Int).Set(u.Num())
	if len(new(big.Int).Abs(n).String()) > precision {
		return nil, fmt.Errorf("decimal %s has more than %d digits", r.FloatString(scale), precision)
	}
	switch {
	case precision <= 9:
		return int32(n.Int64()), nil
	case precision <= 18:
		return n.Int64(), nil
	}
	return twosComplement(n, decimalBytes(precision)), nil
}

// twosComplement is n big-endian in size bytes.
func twosComplement(n *big.Int, size int) []byte {
	b := make([]byte, size)
	if n.Sign() >= 0 {
		n.FillBytes(b)
		return b
	}
	m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(size*8)), n)
	m.FillBytes(b)
	return b
}

func parseUUID(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return nil, fmt.Errorf("uuid %q is not 8-4-4-4-12 hex digits", s)
	}
	b := make([]byte, 16)
	for i := range b {
		hi, lo := unhex(h[2*i]), unhex(h[2*i+1])
		if hi < 0 || lo < 0 {
			return nil, fmt.Errorf("uuid %q is not hex", s)
		}
		b[i] = byte(hi<<4 | lo)
	}
	return b, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}
