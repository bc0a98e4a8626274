// Package ingest is Strata's Kafka protocol server: the TCP listener, the
// request framing, the dispatch table and one handler per Kafka API (one
// file each, named after the API key as in franz-go's kfake).
//
// Handlers decode requests with franz-go's kmsg, validate them, call the
// layer below through the small interfaces of backend.go (one per concern:
// partitions, topic lookup, topic admin, configs, groups, ...), and fill
// responses. ingest owns those interfaces and their types; it imports no
// broker, meta, hotlog, tiering or objstore package (server/ adapts the
// broker to them), so every handler can be tested in process against
// fakes.
// Authentication is SASL as Kafka speaks it (sasl.go: the connection state
// machine; sasl_<mechanism>.go: one mechanism each, behind the small
// checker interface it defines): a connection's principal is Anonymous
// until it authenticates. A replica fetch is served only to a connection
// authenticated as that very broker (authz.go, Backend.Authorizer).
// The versions each handler accepts sit beside it in the dispatch table,
// so ApiVersions is derived from what is implemented and cannot advertise
// more. ingest never touches files or etcd.
package ingest
