// Package bench is Strata's load generator and the reference measurements
// it is judged against. `strata bench` and `make bench` call Run.
//
// bench owns
//   - the broker under test: a `strata serve` child process (so its CPU time
//     and peak RSS are its own, read from /proc/<pid>), a broker started in
//     this process (server.Start; CPU and RSS are then the whole process's,
//     clients included), or an external one (--brokers, optionally with its
//     HTTP address for /metrics, pprof and tier status);
//   - the Strata matrix: for each record size x partition count x acks, the
//     maximum produce rate of franz-go producers, the consume rate of a
//     franz-go consumer reading it back, end-to-end latency percentiles at
//     a fixed rate (by default half the measured maximum, flagged when the
//     machine cannot carry it), broker CPU seconds per GB and peak RSS;
//   - the cold tier: MB/s of segments turned into Parquet and uploaded, and
//     cold fetch (object store) against hot fetch (local log) of one range;
//   - the references, measured in the same run on the same machine:
//     sequential write + fsync on the disk of the broker's data directory
//     (the limit for acks=all), loopback TCP bandwidth (the limit for a
//     client on the same machine), and NATS JetStream (nats-server in this
//     process, file storage, nats.go client) at the same record sizes and
//     durability (acks=1: JetStream's default, no fsync before the ack;
//     acks=all: sync_always, an fsync before every ack);
//   - the report: a Markdown table (every Strata figure beside each
//     reference as a ratio), a JSON file, a chart (PNG or SVG), and a CPU
//     profile of the broker merged over the measured phases, with its top
//     functions.
//
// Units: MB is 10^6 bytes of record values (keys, headers and framing are
// not counted), so Strata and NATS figures compare like for like. A ratio
// is Strata / reference: above 1 means more throughput, or for latency a
// longer time, than the reference.
//
// Nothing here asserts times: the numbers depend on the machine, the
// ratios are what carry from one machine to another.
package bench
