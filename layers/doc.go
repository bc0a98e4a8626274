// Package layers holds no code, only the test that keeps Strata's floors:
// every package imports only packages of a lower floor (or of its own
// folder), so the formats and storage at the bottom never learn about the
// protocol or the cluster above them.
//
//	floor 0  recordbatch, fileutil, placement  the Kafka batch format; file safety; key placement
//	floor 1  objstore, auth, quota             the object-store seam and providers;
//	                                           principals, ACLs, SCRAM; client quotas
//	floor 2  hotlog, meta                      local log; everything in etcd
//	floor 3  tiering, group, txn, schemareg    cold tier; consumer groups; transactions;
//	                                           schema registry (Confluent REST API)
//	floor 4  broker, ingest, iceberg, typed    partitions; Kafka protocol; Iceberg
//	                                           tables derived from the tier; typed
//	                                           value columns (registry schemas)
//	floor 5  query                             scans of the log, the tier and table
//	                                           snapshots: export, Flight
//	floor 6  server                            the composition root
//	floor 7  bench                             load generator (starts a server)
//	floor 8  cmd/strata, images, integration   binaries and container tests
//
// ingest in addition never imports broker, meta, hotlog, tiering or
// objstore: it reaches them only through the interfaces it defines.
package layers
