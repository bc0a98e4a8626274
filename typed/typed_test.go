package typed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
)

// fakeRegistry holds schemas by id; latest is the subject's latest id
// (0: none); down makes every read fail as an unreachable etcd would.
type fakeRegistry struct {
	byID   map[int32]schemareg.Parsed
	latest int32
	down   bool
}

func (r *fakeRegistry) LatestParsed(_ context.Context, subject string) (schemareg.Parsed, error) {
	if r.latest == 0 {
		return schemareg.Parsed{}, schemareg.ErrNotFound
	}
	return r.ParsedByID(context.Background(), r.latest)
}

func (r *fakeRegistry) ParsedByID(_ context.Context, id int32) (schemareg.Parsed, error) {
	if r.down {
		return schemareg.Parsed{}, errors.New("etcd: context deadline exceeded")
	}
	p, ok := r.byID[id]
	if !ok {
		return p, schemareg.ErrNotFound
	}
	return p, nil
}

func avroParsed(t testing.TB, id int32, text string) schemareg.Parsed {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	return schemareg.Parsed{ID: id, Type: schemareg.TypeAvro, Avro: s}
}

func jsonParsed(t testing.TB, id int32, text string) schemareg.Parsed {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return schemareg.Parsed{ID: id, Type: schemareg.TypeJSON, JSON: doc}
}

func wireOf(id int32, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

func TestSourceWithoutSubject(t *testing.T) {
	d, err := NewSource(&fakeRegistry{}).ValueDecoder(context.Background(), "t")
	if d != nil || err != nil {
		t.Fatalf("no subject: decoder %v, err %v; want none", d, err)
	}
	_, err = NewSource(&fakeRegistry{latest: 1, down: true}).ValueDecoder(context.Background(), "t")
	if err == nil || errors.Is(err, coldfile.ErrNoTypedColumns) {
		t.Fatalf("registry down: %v, want an error that fails the upload", err)
	}
	reg := &fakeRegistry{latest: 1, byID: map[int32]schemareg.Parsed{1: avroParsed(t, 1, `"null"`)}}
	if _, err := NewSource(reg).ValueDecoder(context.Background(), "t"); !errors.Is(err, coldfile.ErrNoTypedColumns) {
		t.Fatalf("a null schema: %v, want ErrNoTypedColumns", err)
	}
}

// TestDecodeAvro: values in column shapes, and each kind of bad value an
// error (the row's value_error) except an unreachable registry, which
// fails the file.
func TestDecodeAvro(t *testing.T) {
	const text = `{"type":"record","name":"R","fields":[
	 {"name":"u","type":["null","long","string",{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]}]},
	 {"name":"big","type":{"type":"fixed","name":"D","size":9,"logicalType":"decimal","precision":20,"scale":3}},
	 {"name":"next","type":["null","R"]},
	 {"name":"fx","type":{"type":"fixed","name":"F","size":2}}]}`
	reg := &fakeRegistry{latest: 1, byID: map[int32]schemareg.Parsed{
		1: avroParsed(t, 1, text),
		2: jsonParsed(t, 2, `{"type":"object","properties":{"a":{"type":"string"}}}`),
	}}
	src := NewSource(reg)
	d, err := src.ValueDecoder(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v map[string]any) []byte {
		b, err := avro.Marshal(reg.byID[1].Avro, v)
		if err != nil {
			t.Fatal(err)
		}
		return wireOf(1, b)
	}
	neg, _ := new(big.Rat).SetString("-12345678901234567.891")
	good := enc(map[string]any{"u": map[string]any{"P": map[string]any{"x": 7}}, "big": neg, "next": nil, "fx": [2]byte{1, 2}})
	got, id, err := d.Decode(good)
	if err != nil || id != 1 {
		t.Fatalf("decode: %v (id %d)", err, id)
	}
	unscaled, _ := new(big.Int).SetString("-12345678901234567891", 10)
	want := map[string]any{"u": map[string]any{"P": map[string]any{"x": int32(7)}}, "big": twosComplement(unscaled, 9), "next": nil, "fx": []byte{1, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %#v\nwant %#v", got, want)
	}
	str := enc(map[string]any{"u": map[string]any{"string": "s"}, "big": big.NewRat(1, 1000), "next": nil, "fx": [2]byte{}})
	if got, _, _ := d.Decode(str); !reflect.DeepEqual(got.(map[string]any)["u"], map[string]any{"string": "s"}) {
		t.Fatalf("string branch: %#v", got)
	}
	for _, f := range d.Node().Fields() {
		if f.Name() == "next" {
			t.Fatalf("the recursive field next has a column")
		}
	}

	for _, tc := range []struct {
		name, value, err string
	}{
		{"empty", "", "0 bytes, the header needs 5"},
		{"magic", "\x01\x00\x00\x00\x01\x00", "magic byte 0x1"},
		{"unknown id", string(wireOf(9, good[5:])), "schema id 9 is not registered"},
		{"other type", string(wireOf(2, []byte(`{"a":"x"}`))), "schema id 2 is JSON, the columns are AVRO"},
		{"cut short", string(good[:len(good)-3]), "EOF"},
	} {
		_, _, err := d.Decode([]byte(tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, coldfile.ErrDecoderUnavailable) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	reg.down = true
	if _, _, err := NewSource(reg).mustDecoder(t, d).Decode(wireOf(3, nil)); !errors.Is(err, coldfile.ErrDecoderUnavailable) {
		t.Errorf("registry down: %v, want ErrDecoderUnavailable", err)
	}
}

// mustDecoder is d reading through s (a fresh cache).
func (s *Source) mustDecoder(t *testing.T, d coldfile.ValueDecoder) coldfile.ValueDecoder {
	t.Helper()
	fd := *d.(*fileDecoder)
	fd.src = s
	return &fd
}

// TestDecodeJSONRoot: a schema that is not an object with properties is
// the group {value: T}.
func TestDecodeJSONRoot(t *testing.T) {
	reg := &fakeRegistry{latest: 1, byID: map[int32]schemareg.Parsed{1: jsonParsed(t, 1, `{"type":"array","items":{"type":"integer"}}`)}}
	d, err := NewSource(reg).ValueDecoder(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := d.Decode(wireOf(1, []byte(`[1, 2, 3]`)))
	if err != nil || !reflect.DeepEqual(got, map[string]any{"value": []any{int64(1), int64(2), int64(3)}}) {
		t.Fatalf("decoded %#v, %v", got, err)
	}
	if _, _, err := d.Decode(wireOf(1, []byte(`[1.5]`))); err == nil {
		t.Fatal("1.5 decoded as an integer")
	}
}

const protoText = `syntax = "proto3";
message M { int32 a = 1; repeated N n = 3; map<int64, string> m = 4; E e = 5; optional bytes b = 6; M self = 7;
  message N { sint64 x = 1; } enum E { Z = 0; O = 1; } }
`

func protoParsed(t testing.TB, id int32) schemareg.Parsed {
	t.Helper()
	files, err := (&protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"m.proto": protoText})}}).Compile(context.Background(), "m.proto")
	if err != nil {
		t.Fatal(err)
	}
	return schemareg.Parsed{ID: id, Type: schemareg.TypeProtobuf, Proto: files[0]}
}

// TestDecodeAvroBombs: a few bytes that claim a huge array or map are a
// value_error, not an allocation of what they claim (before the bound, the
// array ran the test out of memory).
func TestDecodeAvroBombs(t *testing.T) {
	reg := &fakeRegistry{latest: 1, byID: map[int32]schemareg.Parsed{1: avroParsed(t, 1,
		`{"type":"record","name":"R","fields":[{"name":"l","type":{"type":"array","items":"long"}},{"name":"m","type":{"type":"map","values":"null"}}]}`)}}
	d, err := NewSource(reg).ValueDecoder(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	for name, payload := range map[string][]byte{
		"array":  binary.AppendVarint(nil, 1<<40),
		"map":    append([]byte{0}, binary.AppendVarint(nil, 1<<40)...),
		"blocks": append(binary.AppendVarint(binary.AppendVarint(nil, maxAvroElements), 1), bytes.Repeat([]byte{2}, 16)...),
	} {
		if _, _, err := d.Decode(wireOf(1, payload)); err == nil {
			t.Errorf("%s bomb decoded", name)
		}
	}
}
