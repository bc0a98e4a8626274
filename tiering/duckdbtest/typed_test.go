//go:build cgo

package duckdbtest

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stratalog/strata/server"
)

// typedEnv is a broker with the schema registry, a producer, a registry
// client (franz-go's, not Strata's) and DuckDB.
type typedEnv struct {
	t       *testing.T
	ctx     context.Context
	dataDir string
	srv     *server.Server
	cl      *kgo.Client
	reg     *sr.Client
	db      *sql.DB
}

func startTyped(t *testing.T) *typedEnv {
	t.Helper()
	e := &typedEnv{t: t, dataDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	srv, err := server.Start(ctx, server.Config{
		DataDir: e.dataDir, Listen: "127.0.0.1:0", BrokerID: 1, AutoCreateTopics: false, DefaultPartitions: 1,
		SchemaRegistryListen:   "127.0.0.1:0",
		RetentionCheckInterval: 100 * time.Millisecond, TierRowGroupBytes: 32 << 10,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv
	if e.cl, err = kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()), kgo.ProducerLinger(0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cl.Close)
	if e.reg, err = sr.NewClient(sr.URLs("http://" + srv.SchemaRegistryAddr())); err != nil {
		t.Fatal(err)
	}
	if e.db, err = sql.Open("duckdb", ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	return e
}

func (e *typedEnv) createTopic(topic string, configs map[string]*string) {
	e.t.Helper()
	cfg := map[string]*string{
		"segment.bytes": kadm.StringPtr("1048576"), "local.retention.ms": kadm.StringPtr("0"),
		"strata.tier.max.lag.ms": kadm.StringPtr("200"), "strata.tier.target.file.bytes": kadm.StringPtr("0"),
	}
	for k, v := range configs {
		cfg[k] = v
	}
	if _, err := kadm.NewClient(e.cl).CreateTopic(e.ctx, 1, 1, cfg, topic); err != nil {
		e.t.Fatal(err)
	}
}

func (e *typedEnv) register(subject, schema string, typ sr.SchemaType) int {
	e.t.Helper()
	ss, err := e.reg.CreateSchema(e.ctx, subject, sr.Schema{Schema: schema, Type: typ})
	if err != nil {
		e.t.Fatalf("register %s: %v", subject, err)
	}
	return ss.ID
}

// produce writes values in order and waits until all of them are tiered.
func (e *typedEnv) produce(topic string, values [][]byte) {
	e.t.Helper()
	for _, v := range values {
		if err := e.cl.ProduceSync(e.ctx, &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			e.t.Fatal(err)
		}
	}
	for {
		_, end, err := e.srv.Tier().ColdRange(e.ctx, topic, 0)
		part, _ := e.srv.Broker().Partition(topic, 0)
		if err == nil && end == part.HighWatermark() {
			return
		}
		if e.ctx.Err() != nil {
			e.t.Fatalf("%s not fully tiered", topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *typedEnv) from(topic string) string {
	glob := filepath.Join(e.dataDir, "objects", "topic="+topic, "partition=*", "*.parquet")
	return fmt.Sprintf("read_parquet('%s', union_by_name=true)", glob)
}

// query returns each row's columns as text (NULL as "NULL"), in order.
func (e *typedEnv) query(q string) [][]string {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.ctx, q)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// check compares query rows with want, row by row.
func (e *typedEnv) check(what string, got, want [][]string) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range want {
		if strings.Join(got[i], " | ") != strings.Join(want[i], " | ") {
			e.t.Fatalf("%s: row %d\n got: %q\nwant: %q", what, i, got[i], want[i])
		}
	}
}

func wire(id int, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const avroOrderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},
 {"name":"customer","type":{"type":"record","name":"Customer","fields":[
   {"name":"name","type":"string"},
   {"name":"tier","type":{"type":"enum","name":"Tier","symbols":["BRONZE","SILVER","GOLD"]}}]}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
 {"name":"attrs","type":{"type":"map","values":"string"}},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"at_us","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"uid","type":{"type":"string","logicalType":"uuid"}},
 {"name":"note","type":["null","string"],"default":null}]}`

type avroItem struct {
	SKU string `avro:"sku"`
	Qty int32  `avro:"qty"`
}

type avroCustomer struct {
	Name string `avro:"name"`
	Tier string `avro:"tier"`
}

type avroOrder struct {
	ID       int64             `avro:"id"`
	Customer avroCustomer      `avro:"customer"`
	Items    []avroItem        `avro:"items"`
	Attrs    map[string]string `avro:"attrs"`
	Amount   *big.Rat          `avro:"amount"`
	Day      time.Time         `avro:"day"`
	At       time.Time         `avro:"at"`
	AtMicros time.Time         `avro:"at_us"`
	UID      string            `avro:"uid"`
	Note     *string           `avro:"note"`
}

// TestTypedColumnsAvro produces Avro records (nested records, an array of
// records, a map, an enum, decimal, date, timestamp-millis/-micros, uuid,
// a nullable union) in the wire format through franz-go's sr.Serde, with
// the schema registered through the registry, and reads every field back
// from the tiered files' value_typed column with DuckDB; records with an
// unknown schema id, a wrong magic byte or a bad payload keep their raw
// bytes and get value_error.
func TestTypedColumnsAvro(t *testing.T) {
	e := startTyped(t)
	const topic = "orders-avro"
	e.createTopic(topic, nil)
	id := e.register(topic+"-value", avroOrderSchema, sr.TypeAvro)
	schema := avro.MustParse(avroOrderSchema)
	var serde sr.Serde
	serde.Register(id, avroOrder{}, sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(schema, v) }))

	const n = 300
	tiers := []string{"BRONZE", "SILVER", "GOLD"}
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var values [][]byte
	var want [][]string
	for i := range n {
		o := avroOrder{
			ID:       int64(i) * 1_000_000_007,
			Customer: avroCustomer{Name: fmt.Sprintf("customer-%d", i%17), Tier: tiers[i%3]},
			Attrs:    map[string]string{},
			Amount:   big.NewRat(int64(i*137-5000), 100),
			Day:      base.AddDate(0, 0, i).Truncate(24 * time.Hour),
			At:       base.Add(time.Duration(i) * time.Second).Add(123 * time.Millisecond),
			AtMicros: base.Add(time.Duration(i) * time.Microsecond * 1001),
			UID:      fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7),
		}
		items := []map[string]any{}
		for k := range i % 4 {
			o.Items = append(o.Items, avroItem{SKU: fmt.Sprintf("sku-%d", k), Qty: int32(i + k)})
			items = append(items, map[string]any{"sku": fmt.Sprintf("sku-%d", k), "qty": i + k})
		}
		for k := range i % 3 {
			o.Attrs[fmt.Sprintf("a%d", k)] = fmt.Sprint("v", i)
		}
		note := "NULL"
		if i%5 == 0 {
			s := fmt.Sprint("note ", i)
			o.Note, note = &s, s
		}
		b, err := serde.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
		want = append(want, []string{fmt.Sprint(i), fmt.Sprint(o.ID), o.Customer.Name, o.Customer.Tier, mustJSON(items), mustJSON(o.Attrs),
			o.Amount.FloatString(2), o.Day.Format(time.DateOnly), fmt.Sprint(o.At.UnixMilli()), fmt.Sprint(o.AtMicros.UnixMicro()), o.UID, note,
			"NULL", fmt.Sprint(id)})
	}
	good, err := serde.Encode(avroOrder{Customer: avroCustomer{Tier: "GOLD"}, Amount: big.NewRat(1, 1), UID: "00000000-0000-0000-0000-000000000000", Day: base, At: base, AtMicros: base})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{ // offset -> error text
		n:     "magic byte 0x68",
		n + 1: "schema id 99999 is not registered",
		n + 2: "avro",
		n + 3: "bytes, the header needs 5",
	}
	values = append(values, []byte("hello"), wire(99999, good[5:]), wire(id, []byte{0xff, 0xff, 0xff}), []byte{0, 0})
	e.produce(topic, values)
	e.fetchAll(topic, values) // Fetch ignores the typed columns

	from := e.from(topic)
	got := e.query(`SELECT "offset", value_typed.id, value_typed.customer.name, value_typed.customer.tier, to_json(value_typed.items)::VARCHAR,
		to_json(value_typed.attrs)::VARCHAR, value_typed.amount::VARCHAR, value_typed.day::VARCHAR, epoch_ms(value_typed.at), epoch_us(value_typed.at_us),
		value_typed.uid::VARCHAR, value_typed.note, value_error, value_schema_id FROM ` + from + ` WHERE "offset" < ` + fmt.Sprint(n) + ` ORDER BY "offset"`)
	e.check("avro typed columns", got, want)

	types := e.query(`SELECT typeof(value_typed.id), typeof(value_typed.customer.tier), typeof(value_typed.items), typeof(value_typed.attrs),
		typeof(value_typed.amount), typeof(value_typed.day), typeof(value_typed.at), typeof(value_typed.at_us), typeof(value_typed.uid) FROM ` + from + ` LIMIT 1`)
	e.check("avro column types", types, [][]string{{"BIGINT", "VARCHAR", "STRUCT(qty INTEGER, sku VARCHAR)[]", "MAP(VARCHAR, VARCHAR)",
		"DECIMAL(10,2)", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE", "UUID"}})

	rows := e.query(`SELECT "offset", value_typed IS NULL, value_error, octet_length(value) FROM ` + from + ` WHERE "offset" >= ` + fmt.Sprint(n) + ` ORDER BY "offset"`)
	if len(rows) != len(bad) {
		t.Fatalf("%d undecodable rows, want %d", len(rows), len(bad))
	}
	for _, r := range rows {
		var off int
		fmt.Sscan(r[0], &off)
		if r[1] != "true" || !strings.Contains(r[2], bad[off]) || r[3] != fmt.Sprint(len(values[off])) {
			t.Errorf("offset %d: typed null %s, error %q (want %q), raw %s bytes (want %d)", off, r[1], r[2], bad[off], r[3], len(values[off]))
		}
	}
}

// TestTypedColumnsAvroEvolution registers v1, then v2 (a field added with
// a default), then v3 (int widened to long), producing and tiering records
// after each (and v1 records after v3): one DuckDB query over all files
// (union_by_name) returns every record with the latest types; files
// written before v2 have NULL in its column, records written with v1 into
// a v3 file get the default.
func TestTypedColumnsAvroEvolution(t *testing.T) {
	e := startTyped(t)
	const topic = "evolve"
	e.createTopic(topic, nil)
	subject := topic + "-value"
	schemas := []string{
		`{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"}]}`,
		`{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string","default":"none"}]}`,
		`{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string","default":"none"}]}`,
	}
	var ids []int
	var want [][]string
	off := 0
	enc := func(version int, rec map[string]any) []byte {
		b, err := avro.Marshal(avro.MustParse(schemas[version]), rec)
		if err != nil {
			t.Fatal(err)
		}
		return wire(ids[version], b)
	}
	for v := range schemas {
		ids = append(ids, e.register(subject, schemas[v], sr.TypeAvro))
		var values [][]byte
		for i := range 20 {
			rec := map[string]any{"id": int32(off), "name": fmt.Sprint("user-", off)}
			email := "NULL" // files tiered under v1 have no email column
			if v >= 1 {
				rec["email"] = fmt.Sprintf("u%d@example.com", off)
				email = rec["email"].(string)
			}
			id := fmt.Sprint(off)
			if v == 2 {
				rec["id"] = int64(off) + 1<<40
				id = fmt.Sprint(int64(off) + 1<<40)
			}
			values = append(values, enc(v, rec))
			want = append(want, []string{fmt.Sprint(off), id, fmt.Sprint("user-", off), email, fmt.Sprint(ids[v])})
			off++
			_ = i
		}
		e.produce(topic, values)
	}
	// v1 records after v3: decoded with v1, resolved to v3.
	var values [][]byte
	for range 5 {
		values = append(values, enc(0, map[string]any{"id": int32(off), "name": fmt.Sprint("user-", off)}))
		want = append(want, []string{fmt.Sprint(off), fmt.Sprint(off), fmt.Sprint("user-", off), "none", fmt.Sprint(ids[0])})
		off++
	}
	e.produce(topic, values)

	from := e.from(topic)
	got := e.query(`SELECT "offset", value_typed.id, value_typed.name, value_typed.email, value_schema_id FROM ` + from + ` ORDER BY "offset"`)
	e.check("evolved columns", got, want)
	types := e.query(`SELECT DISTINCT typeof(value_typed.id), typeof(value_typed.email), count(*) OVER () FROM ` + from)
	e.check("evolved types", types, [][]string{{"BIGINT", "VARCHAR", fmt.Sprint(off)}})
}

// fetchAll consumes topic from offset 0 (the cold tier: local retention
// is 0) and checks that every value comes back byte for byte.
func (e *typedEnv) fetchAll(topic string, values [][]byte) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.srv.KafkaAddr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < len(values); {
		fs := cl.PollFetches(e.ctx)
		if err := fs.Err(); err != nil {
			e.t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) || string(r.Value) != string(values[got]) {
				e.t.Fatalf("fetched offset %d (want %d): value %x, want %x", r.Offset, got, r.Value, values[got])
			}
			got++
		})
	}
}

const jsonOrderSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{
 "id":{"type":"integer"},"price":{"type":"number"},"active":{"type":"boolean"},"name":{"type":["null","string"]},
 "tags":{"type":"array","items":{"type":"string"}},
 "address":{"$ref":"#/definitions/address"},
 "lines":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}}}},
 "labels":{"type":"object","additionalProperties":{"type":"integer"}},
 "created":{"type":"string","format":"date-time"},"day":{"type":"string","format":"date"},"uid":{"type":"string","format":"uuid"},
 "extra":{}},
 "definitions":{"address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string"}}}}}`

// TestTypedColumnsJSONSchema: JSON values typed by the schema's
// properties (integer, number, boolean, nullable string, arrays of
// strings and of objects, a local $ref, additionalProperties as a map,
// date-time, date and uuid formats; an untyped property as JSON text);
// a value of the wrong type gets value_error.
func TestTypedColumnsJSONSchema(t *testing.T) {
	e := startTyped(t)
	const topic = "orders-json"
	e.createTopic(topic, nil)
	id := e.register(topic+"-value", jsonOrderSchema, sr.TypeJSON)
	var serde sr.Serde
	serde.Register(id, map[string]any{}, sr.EncodeFn(json.Marshal))
	base := time.Date(2024, 5, 1, 8, 30, 0, 0, time.UTC)
	var values [][]byte
	var want [][]string
	const n = 200
	for i := range n {
		created := base.Add(time.Duration(i) * 1500 * time.Microsecond)
		day := base.AddDate(0, 0, -i)
		uid := fmt.Sprintf("%08x-1111-4000-8000-%012x", i, i)
		tags := []string{}
		lines := []map[string]any{}
		for k := range i % 3 {
			tags = append(tags, fmt.Sprint("t", k))
			lines = append(lines, map[string]any{"sku": fmt.Sprint("s", k), "qty": k * i})
		}
		labels := map[string]int{}
		for k := range i % 2 {
			labels[fmt.Sprint("l", k)] = i
		}
		v := map[string]any{"id": i * 1_000_003, "price": float64(i) + 0.25, "active": i%2 == 0, "tags": tags,
			"address": map[string]any{"city": fmt.Sprint("city-", i%7), "zip": fmt.Sprintf("%05d", i)},
			"lines":   lines, "labels": labels, "created": created.Format(time.RFC3339Nano), "day": day.Format(time.DateOnly), "uid": uid,
			"extra": map[string]any{"k": i}}
		name := "NULL"
		if i%4 != 0 {
			v["name"] = fmt.Sprint("n", i)
			name = v["name"].(string)
		}
		b, err := serde.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
		want = append(want, []string{fmt.Sprint(i), fmt.Sprint(i * 1_000_003), fmt.Sprint(float64(i) + 0.25), fmt.Sprint(i%2 == 0), name,
			mustJSON(tags), fmt.Sprint("city-", i%7), fmt.Sprintf("%05d", i), mustJSON(lines), mustJSON(labels),
			fmt.Sprint(created.UnixMicro()), day.Format(time.DateOnly), uid, mustJSON(map[string]any{"k": i}), "NULL"})
	}
	wrongType, _ := serde.Encode(map[string]any{"id": "not a number"})
	values = append(values, wrongType, wire(id, []byte("{not json")))
	e.produce(topic, values)

	from := e.from(topic)
	got := e.query(`SELECT "offset", value_typed.id, value_typed.price, value_typed.active, value_typed.name, to_json(value_typed.tags)::VARCHAR,
		value_typed.address.city, value_typed.address.zip, to_json(value_typed.lines)::VARCHAR, to_json(value_typed.labels)::VARCHAR,
		epoch_us(value_typed.created), value_typed.day::VARCHAR, value_typed.uid::VARCHAR, value_typed.extra::VARCHAR, value_error
		FROM ` + from + ` WHERE "offset" < ` + fmt.Sprint(n) + ` ORDER BY "offset"`)
	e.check("json typed columns", got, want)
	types := e.query(`SELECT typeof(value_typed.id), typeof(value_typed.price), typeof(value_typed.active), typeof(value_typed.lines),
		typeof(value_typed.labels), typeof(value_typed.created), typeof(value_typed.day), typeof(value_typed.uid) FROM ` + from + ` LIMIT 1`)
	e.check("json column types", types, [][]string{{"BIGINT", "DOUBLE", "BOOLEAN", "STRUCT(qty BIGINT, sku VARCHAR)[]", "MAP(VARCHAR, BIGINT)",
		"TIMESTAMP WITH TIME ZONE", "DATE", "UUID"}})
	errs := e.query(`SELECT value_typed IS NULL, value_error FROM ` + from + ` WHERE "offset" >= ` + fmt.Sprint(n) + ` ORDER BY "offset"`)
	if len(errs) != 2 || errs[0][0] != "true" || !strings.Contains(errs[0][1], "id: json: integer wanted, got string") ||
		errs[1][0] != "true" || !strings.Contains(errs[1][1], "json:") {
		t.Fatalf("undecodable JSON rows: %q", errs)
	}
}

const protoOrderSchema = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";

message Order {
  int64 id = 1;
  string customer = 2;
  repeated Item items = 3;
  map<string, int32> counts = 4;
  Status status = 5;
  google.protobuf.Timestamp at = 6;
  Address ship = 7;
  optional string note = 8;
  uint64 big = 9;
  double total = 10;
  message Address { string city = 1; }
  enum Status { NEW = 0; PAID = 1; SHIPPED = 2; }
}

message Item {
  string sku = 1;
  uint32 qty = 2;
}
`

// TestTypedColumnsProtobuf: Protobuf values (message indexes after the
// id, written by sr.Serde) decoded with dynamicpb into the first message's
// columns: nested and repeated messages, a map, an enum by name, a
// google.protobuf.Timestamp, proto3 optional; a record of another message
// of the file gets value_error.
func TestTypedColumnsProtobuf(t *testing.T) {
	e := startTyped(t)
	const topic = "orders-proto"
	e.createTopic(topic, nil)
	id := e.register(topic+"-value", protoOrderSchema, sr.TypeProtobuf)
	files, err := (&protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"order.proto": protoOrderSchema})})}).Compile(e.ctx, "order.proto")
	if err != nil {
		t.Fatal(err)
	}
	orderMD := files[0].Messages().ByName("Order")
	itemMD := files[0].Messages().ByName("Item")
	addrMD := orderMD.Messages().ByName("Address")
	var serde sr.Serde
	marshal := sr.EncodeFn(func(v any) ([]byte, error) { return proto.Marshal(v.(*dynamicpb.Message)) })
	serde.Register(id, &dynamicpb.Message{}, marshal, sr.Index(0))
	statuses := []string{"NEW", "PAID", "SHIPPED"}
	base := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	const n = 200
	var values [][]byte
	var want [][]string
	for i := range n {
		m := dynamicpb.NewMessage(orderMD)
		f := orderMD.Fields()
		m.Set(f.ByName("id"), protoreflect.ValueOfInt64(int64(i)*-7))
		m.Set(f.ByName("customer"), protoreflect.ValueOfString(fmt.Sprint("c", i)))
		items := m.Mutable(f.ByName("items")).List()
		wantItems := []map[string]any{}
		for k := range i % 3 {
			it := dynamicpb.NewMessage(itemMD)
			it.Set(itemMD.Fields().ByName("sku"), protoreflect.ValueOfString(fmt.Sprint("sku", k)))
			it.Set(itemMD.Fields().ByName("qty"), protoreflect.ValueOfUint32(uint32(k+i)))
			items.Append(protoreflect.ValueOfMessage(it))
			wantItems = append(wantItems, map[string]any{"sku": fmt.Sprint("sku", k), "qty": k + i})
		}
		counts := m.Mutable(f.ByName("counts")).Map()
		wantCounts := map[string]int{}
		for k := range i % 2 {
			counts.Set(protoreflect.ValueOfString(fmt.Sprint("k", k)).MapKey(), protoreflect.ValueOfInt32(int32(i)))
			wantCounts[fmt.Sprint("k", k)] = i
		}
		m.Set(f.ByName("status"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(i%3)))
		at := base.Add(time.Duration(i) * time.Millisecond * 1234)
		ts := dynamicpb.NewMessage(f.ByName("at").Message())
		ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(at.Unix()))
		ts.Set(ts.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(at.Nanosecond())))
		m.Set(f.ByName("at"), protoreflect.ValueOfMessage(ts))
		city := "NULL"
		if i%2 == 0 {
			a := dynamicpb.NewMessage(addrMD)
			a.Set(addrMD.Fields().ByName("city"), protoreflect.ValueOfString(fmt.Sprint("city", i)))
			m.Set(f.ByName("ship"), protoreflect.ValueOfMessage(a))
			city = fmt.Sprint("city", i)
		}
		note := "NULL"
		if i%3 == 0 {
			note = fmt.Sprint("note", i)
			m.Set(f.ByName("note"), protoreflect.ValueOfString(note))
		}
		m.Set(f.ByName("big"), protoreflect.ValueOfUint64(1<<63+uint64(i)))
		m.Set(f.ByName("total"), protoreflect.ValueOfFloat64(float64(i)/4))
		b, err := serde.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, b)
		want = append(want, []string{fmt.Sprint(i), fmt.Sprint(int64(i) * -7), fmt.Sprint("c", i), mustJSON(wantItems), mustJSON(wantCounts),
			statuses[i%3], fmt.Sprint(at.UnixMicro()), city, note, fmt.Sprint(uint64(1<<63 + uint64(i))), fmt.Sprint(float64(i) / 4), "NULL"})
	}
	// An Order.Address record (message indexes [0, 1]: the map entry
	// CountsEntry is nested message 0) is not an Order.
	a := dynamicpb.NewMessage(addrMD)
	a.Set(addrMD.Fields().ByName("city"), protoreflect.ValueOfString("x"))
	ab, _ := proto.Marshal(a)
	values = append(values, wire(id, append([]byte{0x04, 0x00, 0x02}, ab...)))
	e.produce(topic, values)

	from := e.from(topic)
	got := e.query(`SELECT "offset", value_typed.id, value_typed.customer, to_json(value_typed.items)::VARCHAR,
		to_json(value_typed.counts)::VARCHAR, value_typed.status, epoch_us(value_typed."at"), value_typed.ship.city,
		value_typed.note, value_typed.big, value_typed.total, value_error FROM ` + from + ` WHERE "offset" < ` + fmt.Sprint(n) + ` ORDER BY "offset"`)
	e.check("protobuf typed columns", got, want)
	types := e.query(`SELECT typeof(value_typed.items), typeof(value_typed.counts), typeof(value_typed."at"), typeof(value_typed.big) FROM ` + from + ` LIMIT 1`)
	e.check("protobuf column types", types, [][]string{{"STRUCT(qty BIGINT, sku VARCHAR)[]", "MAP(VARCHAR, INTEGER)", "TIMESTAMP WITH TIME ZONE", "UBIGINT"}})
	errs := e.query(`SELECT value_typed IS NULL, value_error FROM ` + from + ` WHERE "offset" = ` + fmt.Sprint(n))
	if len(errs) != 1 || errs[0][0] != "true" || !strings.Contains(errs[0][1], "the record is a shop.Order.Address, the columns are shop.Order") {
		t.Fatalf("Address record: %q", errs)
	}
}

// TestTypedColumnsOff: strata.typed.columns=false writes the raw columns
// only, though the subject has a schema; a value other than true/false is
// refused with INVALID_CONFIG.
func TestTypedColumnsOff(t *testing.T) {
	e := startTyped(t)
	const topic = "raw-only"
	e.createTopic(topic, map[string]*string{"strata.typed.columns": kadm.StringPtr("false")})
	id := e.register(topic+"-value", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, sr.TypeAvro)
	e.produce(topic, [][]byte{wire(id, []byte{0x02})})
	cols := e.query(`SELECT count(*) FILTER (column_name LIKE 'value_%') FROM (DESCRIBE SELECT * FROM ` + e.from(topic) + `)`)
	e.check("columns of a raw-only topic", cols, [][]string{{"0"}})

	resp, err := kadm.NewClient(e.cl).CreateTopic(e.ctx, 1, 1, map[string]*string{"strata.typed.columns": kadm.StringPtr("maybe")}, "bad-config")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("strata.typed.columns=maybe: %v, want INVALID_CONFIG", err)
	}
}

// TestTypedColumnsIcebergTable: the Iceberg table of a topic with typed
// columns still commits every file, and iceberg-go scans it (columns by
// field id; the typed columns, which have none, are not in the table).
func TestTypedColumnsIcebergTable(t *testing.T) {
	e := startTyped(t)
	const topic, n = "typed-iceberg", 50
	e.createTopic(topic, nil)
	const text = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"l","type":{"type":"array","items":"string"}},
	 {"name":"m","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"x","type":"long"}]}}}]}`
	id := e.register(topic+"-value", text, sr.TypeAvro)
	var values [][]byte
	for i := range n {
		b, err := avro.Marshal(avro.MustParse(text), map[string]any{"a": i, "l": []any{"x", "y"}, "m": map[string]any{"k": map[string]any{"x": int64(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, wire(id, b))
	}
	e.produce(topic, values)
	if typed := e.query(`SELECT count(value_typed.a) FILTER (len(value_typed.l) = 2 AND value_typed.m['k'].x = value_typed.a) FROM ` + e.from(topic)); typed[0][0] != fmt.Sprint(n) {
		t.Fatalf("%s typed rows, want %d", typed[0][0], n)
	}
	for {
		st, err := e.srv.Tables().TableStatus(e.ctx, topic)
		if err == nil && st.PartitionEnds[0] == n {
			break
		}
		if e.ctx.Err() != nil {
			t.Fatalf("the table never reached offset %d: %+v %v", n, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	loc, _, _, err := e.srv.Tables().Metadata(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.NewFromLocation(e.ctx, table.Identifier{"default", topic}, loc, iceio.LoadFSFunc(nil, loc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tbl.Schema().FindFieldByName("value_typed"); ok {
		t.Fatal("value_typed is in the table schema")
	}
	at, err := tbl.Scan().ToArrowTable(e.ctx)
	if err != nil {
		t.Fatalf("iceberg-go scan of a typed topic: %v", err)
	}
	defer at.Release()
	if at.NumRows() != n {
		t.Fatalf("iceberg-go scanned %d rows, want %d", at.NumRows(), n)
	}
}
