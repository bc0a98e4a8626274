// Package typed decodes record values written in the Confluent wire format
// (magic byte 0, a 4-byte big-endian schema id, for Protobuf the message
// indexes, then the payload) into the cold tier's typed columns: it maps a
// registered schema (Avro, JSON Schema, Protobuf) to a Parquet group and
// each value to the shapes coldfile.ValueDecoder documents.
//
// A file's columns come from the latest version of the topic's value
// subject (TopicNameStrategy, <topic>-value) at tiering time; each record
// is decoded with the schema its id names and resolved to those columns
// (Avro schema resolution; Protobuf by field number; JSON by property
// name). docs/format/parquet.md ("Typed columns") is the mapping's
// documentation. The tierer sees only tiering.ValueDecoders, which Source
// implements over the schema registry's Parsed schemas.
package typed
