package tiering

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stratalog/strata/recordbatch"
	"github.com/stratalog/strata/schemareg"
	"github.com/stratalog/strata/tiering/coldfile"
	"github.com/stratalog/strata/typed"
)

// oneSchema is a registry holding one schema, id 1, as <topic>-value.
type oneSchema struct{ p schemareg.Parsed }

func (r oneSchema) LatestParsed(context.Context, string) (schemareg.Parsed, error) { return r.p, nil }
func (r oneSchema) ParsedByID(_ context.Context, id int32) (schemareg.Parsed, error) {
	if id != r.p.ID {
		return schemareg.Parsed{}, schemareg.ErrNotFound
	}
	return r.p, nil
}

// typedSegment is about 8 MiB of uncompressed batches of 64 records whose
// values value(i) makes, from offset 0.
func typedSegment(value func(i int) []byte) []byte {
	var seg []byte
	var base int64
	for len(seg) < 8<<20 {
		var area []byte
		for i := range 64 {
			area = recordbatch.AppendRecord(area, int32(i), int64(i), fmt.Appendf(nil, "key-%d", base+int64(i)), value(int(base)+i), nil)
		}
		seg = append(seg, recordbatch.AppendBatch(nil, recordbatch.Header{
			BaseOffset: base, LastOffsetDelta: 63, BaseTimestamp: 1_700_000_000_000 + base, MaxTimestamp: 1_700_000_000_063 + base,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 64,
		}, area)...)
		base += 64
	}
	return seg
}

func wireValue(payload []byte) []byte {
	b := []byte{0, 0, 0, 0, 1}
	binary.BigEndian.PutUint32(b[1:], 1)
	return append(b, payload...)
}

const benchAvro = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"customer","type":"string"},
 {"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
 {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"note","type":["null","string"]}]}`

const benchJSON = `{"type":"object","properties":{"id":{"type":"integer"},"customer":{"type":"string"},
 "address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string"}}},
 "items":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}}}},
 "at":{"type":"string","format":"date-time"},"note":{"type":"string"}}}`

const benchProto = `syntax = "proto3";
message Order { int64 id = 1; string customer = 2; Address address = 3; repeated Item items = 4; int64 at = 5; string note = 6; }
message Address { string city = 1; string zip = 2; }
message Item { string sku = 1; int32 qty = 2; }
`

// benchOrder is the same order in each format's terms.
func benchOrder(i int) map[string]any {
	items := make([]any, i%4+1)
	for k := range items {
		items[k] = map[string]any{"sku": fmt.Sprint("sku-", k, "-", i%1000), "qty": int32(k + i%50)}
	}
	return map[string]any{"id": int64(i), "customer": fmt.Sprint("customer-", i%997), "items": items,
		"address": map[string]any{"city": fmt.Sprint("city-", i%89), "zip": fmt.Sprintf("%05d", i%100000)},
		"at":      time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(), "note": strings.Repeat("n", i%40)}
}

func benchFormats(b *testing.B) map[string]struct {
	p     schemareg.Parsed
	value func(int) []byte
} {
	out := map[string]struct {
		p     schemareg.Parsed
		value func(int) []byte
	}{}
	as := avro.MustParse(benchAvro)
	out["avro"] = struct {
		p     schemareg.Parsed
		value func(int) []byte
	}{schemareg.Parsed{ID: 1, Type: schemareg.TypeAvro, Avro: as}, func(i int) []byte {
		o := benchOrder(i)
		o["note"] = map[string]any{"string": o["note"]}
		v, err := avro.Marshal(as, o)
		if err != nil {
			b.Fatal(err)
		}
		return wireValue(v)
	}}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(benchJSON))
	if err != nil {
		b.Fatal(err)
	}
	out["json"] = struct {
		p     schemareg.Parsed
		value func(int) []byte
	}{schemareg.Parsed{ID: 1, Type: schemareg.TypeJSON, JSON: doc}, func(i int) []byte {
		o := benchOrder(i)
		o["at"] = o["at"].(time.Time).Format(time.RFC3339Nano)
		v, _ := json.Marshal(o)
		return wireValue(v)
	}}
	files, err := (&protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"o.proto": benchProto})}}).Compile(context.Background(), "o.proto")
	if err != nil {
		b.Fatal(err)
	}
	md := files[0].Messages().ByName("Order")
	out["protobuf"] = struct {
		p     schemareg.Parsed
		value func(int) []byte
	}{schemareg.Parsed{ID: 1, Type: schemareg.TypeProtobuf, Proto: files[0]}, func(i int) []byte {
		o := benchOrder(i)
		m := dynamicpb.NewMessage(md)
		f := md.Fields()
		m.Set(f.ByName("id"), protoreflect.ValueOfInt64(o["id"].(int64)))
		m.Set(f.ByName("customer"), protoreflect.ValueOfString(o["customer"].(string)))
		m.Set(f.ByName("at"), protoreflect.ValueOfInt64(o["at"].(time.Time).UnixMilli()))
		m.Set(f.ByName("note"), protoreflect.ValueOfString(o["note"].(string)))
		amd := f.ByName("address").Message()
		a := dynamicpb.NewMessage(amd)
		addr := o["address"].(map[string]any)
		a.Set(amd.Fields().ByName("city"), protoreflect.ValueOfString(addr["city"].(string)))
		a.Set(amd.Fields().ByName("zip"), protoreflect.ValueOfString(addr["zip"].(string)))
		m.Set(f.ByName("address"), protoreflect.ValueOfMessage(a))
		imd := f.ByName("items").Message()
		l := m.Mutable(f.ByName("items")).List()
		for _, it := range o["items"].([]any) {
			im := dynamicpb.NewMessage(imd)
			im.Set(imd.Fields().ByName("sku"), protoreflect.ValueOfString(it.(map[string]any)["sku"].(string)))
			im.Set(imd.Fields().ByName("qty"), protoreflect.ValueOfInt32(it.(map[string]any)["qty"].(int32)))
			l.Append(protoreflect.ValueOfMessage(im))
		}
		v, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		return wireValue(append([]byte{0}, v...))
	}}
	return out
}

// BenchmarkTypedConvert is the upload's conversion of one segment of
// wire-format orders (nested record, array of records, timestamp, string)
// per format, timed in the same iteration raw only and with typed columns:
// typed/raw is how many times longer the typed file takes to write (a
// ratio, not a time: it holds on any machine). Bytes are the segment's.
func BenchmarkTypedConvert(b *testing.B) {
	formats := benchFormats(b)
	for _, name := range []string{"avro", "json", "protobuf"} {
		f := formats[name]
		b.Run(name, func(b *testing.B) {
			seg := typedSegment(f.value)
			src := typed.NewSource(oneSchema{f.p})
			dec, err := src.ValueDecoder(context.Background(), "bench")
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := dec.Decode(f.value(1)); err != nil {
				b.Fatalf("the bench's values do not decode: %v", err)
			}
			b.SetBytes(int64(len(seg)))
			var raw, withTyped time.Duration
			for b.Loop() {
				start := time.Now()
				fw := coldfile.NewFileWriter(io.Discard, "bench", [16]byte{1}, 0, 0)
				convert(b, seg, fw)
				raw += time.Since(start)

				start = time.Now()
				dec, err := src.ValueDecoder(context.Background(), "bench")
				if err != nil {
					b.Fatal(err)
				}
				tw, err := coldfile.NewTypedFileWriter(io.Discard, "bench", [16]byte{1}, 0, 0, dec)
				if err != nil {
					b.Fatal(err)
				}
				convert(b, seg, tw)
				withTyped += time.Since(start)
			}
			b.ReportMetric(float64(withTyped)/float64(raw), "typed/raw")
		})
	}
}

func convert(b *testing.B, seg []byte, fw *coldfile.FileWriter) {
	if err := coldfile.DecodeBatches(seg, 0, fw.Add); err != nil {
		b.Fatal(err)
	}
	if _, err := fw.Close(0); err != nil {
		b.Fatal(err)
	}
}
