// Package schemareg is Strata's schema registry: Confluent's Schema
// Registry REST API (subjects, versions, global ids, lookups, references,
// compatibility levels, modes, soft and hard deletes), served by the
// brokers (`strata serve --schema-registry-listen`), with every record in
// etcd through package meta (keys schemas/..., docs/etcd-keys.md).
//
// Formats are parsed by libraries made for them: Avro by hamba/avro
// (parse, Parsing Canonical Form, SchemaCompatibility), Protobuf by
// bufbuild/protocompile, JSON Schema by santhosh-tekuri/jsonschema. A
// schema's identity is the SHA-256 of its type, references and canonical
// form, so the same schema under two subjects has one id. Compatibility
// follows Confluent's rules per format (formats.go); docs/schema-registry.md
// lists what is left out.
//
// Every read goes to etcd, so any broker answers with the latest
// committed state.
package schemareg
