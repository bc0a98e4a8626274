// Package server assembles one Strata process: the data-directory lock,
// the embedded etcd (when no endpoints are given), the metadata client,
// the broker registration, the broker and its partitions, the Kafka
// protocol server and the HTTP endpoint for metrics and health. The
// `strata serve` command and the in-process tests both start a broker
// through it, so they run the same wiring.
package server
