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
// Listeners (listener.go): a broker serves several, by name; a connection
// knows its listener, and Metadata, FindCoordinator and DescribeCluster
// answer with the brokers' addresses on it. A TLS connection's handshake is
// completed here and a client certificate gives its principal
// (User:<subject DN>).
//
// Authentication is SASL as Kafka speaks it (sasl.go: the connection state
// machine, re-authentication and session expiry of KIP-368;
// sasl_<mechanism>.go: PLAIN, SCRAM, OAUTHBEARER, one mechanism each,
// behind the small checker interface it defines): a connection's principal
// is Anonymous until it authenticates.
//
// Authorization (authz.go): every handler checks the operation Kafka
// checks before it acts, through ONE helper per resource type:
//
//	cc.authTopic(op, topic)          -> TOPIC_AUTHORIZATION_FAILED
//	cc.authGroup(op, group)          -> GROUP_AUTHORIZATION_FAILED
//	cc.authCluster(op)               -> CLUSTER_AUTHORIZATION_FAILED
//	cc.authTransactionalID(op, id)   -> TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//
// each returning nil or the error to put in the response, and writing the
// audit line of a denial; op is a kmsg.ACLOperation (Read, Write, Describe,
// ...). A new handler calls them first, e.g. AddPartitionsToTxn:
// authTransactionalID(Write, id) then authTopic(Write, topic) per topic;
// WriteTxnMarkers: authCluster(ClusterAction). Listings that hide what may
// not be seen use cc.allowed (silent); cc.authorizedOps fills the
// authorized-operations bit fields. Backend.ACLs nil (no --authorizer)
// allows everything. A replica fetch is served only to a connection
// authenticated as that very broker (Backend.Authorizer); brokers are
// super users of the ACL authorizer.
// The versions each handler accepts sit beside it in the dispatch table,
// so ApiVersions is derived from what is implemented and cannot advertise
// more. ingest never touches files or etcd.
package ingest
