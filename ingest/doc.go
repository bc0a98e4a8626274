// Package ingest is Strata's Kafka protocol server: the TCP listener, the
// request framing, the dispatch table and one handler per Kafka API (one
// file each, named after the API key as in franz-go's kfake).
//
// Handlers decode requests with franz-go's kmsg, validate them, call the
// broker through the Cluster interface defined here, and fill responses.
// The versions each handler accepts sit beside it in the dispatch table,
// so ApiVersions is derived from what is implemented and cannot advertise
// more. ingest never touches files or etcd.
package ingest
