// Package integration holds Strata's container-based tests: the production
// topology (etcd, MinIO and Strata brokers, each its own container on a
// private Docker network, started with testcontainers-go) and the faults
// operators meet in it. Every test asserts on data — each acknowledged
// record read back exactly once at its offset, committed offsets resumed,
// tiered records read back from the object store — not only on liveness:
//
//   - TestProduceConsume: a three-broker cluster through the containers'
//     mapped ports.
//   - TestTieringColdRead: sealed segments become Parquet objects in the
//     MinIO container (checked by listing and decoding them), local copies
//     go, and offset 0 is served from the cold tier.
//   - TestGroupOffsetsSurviveBrokerRestart: a consumer group resumes at its
//     committed offsets after the broker container restarts.
//   - TestBrokerKillNoAckedLoss: a leader container is SIGKILLed under an
//     idempotent acks=all producer and restarted.
//   - TestMinIORestartDuringTiering: the MinIO container stops while
//     segments are being tiered and starts again.
//   - TestEtcdRestart: the etcd container restarts under load.
//   - TestBrokerNetworkPartition: a leader is disconnected from the Docker
//     network (docker network disconnect) and reconnected.
//   - TestComposeDemo: compose.yaml itself comes up (bucket job, three
//     brokers, demo topic job) and serves the demo topic.
//   - TestComposeSecure: compose.secure.yaml, the secured profile, comes up
//     (certificates, TLS to etcd and MinIO, the first admin in etcd) and
//     serves the demo topic over SASL_SSL only.
//
// The tests run only under `make integration`, which builds the images FROM
// scratch (`make images`) and sets STRATA_INTEGRATION=1; a plain
// `go test ./...` (and so `make test`) skips them, and so does a run where
// no Docker engine answers. Images come from STRATA_IMAGE, MINIO_IMAGE and
// ETCD_IMAGE (defaults: the names `make images` builds); the official
// minio/minio and quay.io/coreos/etcd images work too, as the containers
// are started with the same commands as in compose.yaml. Ryuk is not used
// (TESTCONTAINERS_RYUK_DISABLED=true): each test removes its containers and
// network itself.
//
// Package integration owns nothing outside this folder; it only drives the
// images built from cmd/strata, images/ and scripts/minio.sh.
package integration
