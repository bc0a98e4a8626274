// Package quota owns Kafka's client quotas (KIP-13, KIP-55, KIP-124,
// KIP-546, KIP-599): the quota entities (a user, a client id, both, or
// their defaults) and their values, how a connection's user and client id
// resolve to the quota that governs them (Kafka's precedence), and the
// per-broker enforcement: windowed rates of produced bytes, fetched bytes,
// request handler time and partition mutations, and the throttle time
// each request earns when its rate is over the quota.
//
// Quotas are stored in etcd by package meta (keys quotas/<entity>) and
// every broker enforces them on its own traffic, as Kafka's brokers do:
// a client talking to three brokers may use its quota on each.
package quota
