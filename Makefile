# Strata — build, run and test.
#
#   make run     build and start one broker with defaults (./strata-data, :9092)
#   make test    the full test suite, exactly what CI runs (.ci/run)
#   make lint    go vet + staticcheck
#   make bench   hot-path Go benchmarks, then `strata bench` (docs/benchmarks.md)
#   make fuzz    every fuzz target for $(FUZZTIME)
#   make chaos   randomized fault run of three brokers (CHAOS_DURATION, CHAOS_SEED)
#   make images        container images FROM scratch (strata, minio, etcd)
#   make compose-up    compose.yaml (etcd, MinIO, 3 brokers, demo topic) on them
#   make compose-down  stop it (data volumes stay)
#   make compose-secure-up / compose-secure-down   the same, secured (compose.secure.yaml)
#   make integration   the container-based suite in integration/ (needs Docker)

SHELL     := bash
GO        ?= go
BIN       := bin/strata
TOOLS     := bin/tools
FUZZTIME  ?= 30s
TEST_TIMEOUT ?= 25m

# Packages whose tests also run under the race detector. Everything else runs
# without it (race on 2 cores is ~5-10x slower). Set RACE= to disable.
RACE_PKGS ?= ./hotlog/... ./meta/... ./broker/... ./ingest/...
RACE      ?= 1

# Real-client tests (kcat, confluent-kafka, kafka-python) must fail, not skip,
# when a client is missing: deps.sh installs them.
export STRATA_CLIENT_TESTS ?= require
# Likewise the object-store tests against MinIO (deps.sh builds it).
export STRATA_MINIO_REQUIRED ?= 1

.PHONY: all deps build run test vet lint bench fuzz chaos clean

all: build

deps:
	@scripts/deps.sh

BUILD_CMD = CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/strata

build:
	$(BUILD_CMD)

# deps (minus the MinIO build only the tests need), build, serve.
run:
	@DEPS_MINIO=0 scripts/deps.sh
	$(BUILD_CMD)
	./$(BIN) serve

vet:
	$(GO) vet ./...

# With RACE set, the race packages run once with -race and the rest once
# without; no package runs twice.
test: deps vet
ifneq ($(strip $(RACE)),)
	@race_pkgs="$$(for p in $(RACE_PKGS); do $(GO) list $$p 2>/dev/null || true; done)"; \
	all_pkgs="$$($(GO) list ./...)"; \
	plain_pkgs="$$(printf '%s\n' $$all_pkgs | grep -vxF -f <(printf '%s\n' $$race_pkgs) || true)"; \
	status=0; \
	if [ -n "$$race_pkgs" ]; then \
		echo "$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$(echo $$race_pkgs)"; \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$race_pkgs || status=1; \
	fi; \
	if [ -n "$$plain_pkgs" ]; then \
		echo "$(GO) test -count=1 -timeout $(TEST_TIMEOUT) <other packages>"; \
		$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$plain_pkgs || status=1; \
	fi; \
	exit $$status
else
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
endif

lint:
	@DEPS_MINIO=0 scripts/deps.sh
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# The Go benchmarks of the hot paths (batch validation, append, index
# lookup, fetch read, request decoding, Parquet conversion, cold rebuild),
# then `strata bench`: a broker under load beside references measured in the
# same run (under 10 minutes on 2 cores). Everything lands in $(BENCH_OUT);
# BENCH_ARGS=--quick for a smoke run, BENCH_TIME for the Go benchmarks.
BENCH_OUT  ?= bin/bench
BENCH_ARGS ?=
BENCH_TIME ?= 1s
BENCH_PKGS ?= ./hotlog/ ./ingest/ ./broker/ ./tiering/

bench:
	$(BUILD_CMD)
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) $(BENCH_PKGS) | tee $(BENCH_OUT)/go-bench.txt
	set -o pipefail; ./$(BIN) bench --out $(BENCH_OUT)/results.json --chart $(BENCH_OUT)/results.svg \
		--cpuprofile $(BENCH_OUT)/broker.cpu.pprof $(BENCH_ARGS) | tee $(BENCH_OUT)/results.md

# Runs every fuzz target of every package for $(FUZZTIME) each.
fuzz:
	@set -e; \
	for pkg in $$($(GO) list ./...); do \
		list="$$($(GO) test -list '^Fuzz' $$pkg)" || { echo "$$list"; exit 1; }; \
		for target in $$(echo "$$list" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# The randomized fault run (cmd/strata/chaos_test.go, docs/reliability.md):
# three brokers on a real MinIO under an idempotent acks=all producer while
# a seeded driver kills, pauses, tears files, restarts MinIO and etcd
# members (CHAOS_ETCD=external, the default) and elects leaders for
# CHAOS_DURATION; then every acknowledged record is checked hot, cold, on
# every replica and in DuckDB's view of the bucket (-tags chaosduckdb links
# DuckDB into this one test). CHAOS_SEED replays a run's fault schedule.
CHAOS_DURATION ?= 3m
CHAOS_SEED     ?=
CHAOS_REPORT   ?= bin/chaos-report.json
CHAOS_ETCD     ?= external
chaos:
	@scripts/deps.sh
	@mkdir -p $(dir $(CHAOS_REPORT))
	STRATA_CHAOS=$(CHAOS_DURATION) STRATA_CHAOS_ETCD=$(CHAOS_ETCD) STRATA_CHAOS_SEED=$(CHAOS_SEED) STRATA_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) \
		$(GO) test -tags chaosduckdb -count=1 -timeout 60m -run '^TestChaos$$' -v ./cmd/strata

# Removes build outputs only; ./strata-data (your broker's data) stays.
clean:
	rm -f $(BIN)
	$(GO) clean -testcache

# --- Containers (images/, compose.yaml, integration/) ------------------------
# `make images` builds every image FROM scratch out of static binaries (no
# registry needed; MinIO and etcd are built once into ~/.cache/strata/bin).
# compose.yaml reads STRATA_IMAGE / MINIO_IMAGE / ETCD_IMAGE (defaults: the
# official images); these targets point them at the local builds.
LOCAL_STRATA_IMAGE  ?= strata:dev
LOCAL_MINIO_IMAGE   ?= strata-minio:dev
LOCAL_ETCD_IMAGE    ?= strata-etcd:dev
# Empty: Compose's default project name (the directory's), the same one a
# plain `docker compose` in this directory uses.
COMPOSE_PROJECT     ?=
INTEGRATION_TIMEOUT ?= 15m
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
LOCAL_IMAGES = STRATA_IMAGE=$(LOCAL_STRATA_IMAGE) MINIO_IMAGE=$(LOCAL_MINIO_IMAGE) ETCD_IMAGE=$(LOCAL_ETCD_IMAGE)
COMPOSE_CMD  = $(LOCAL_IMAGES) $(COMPOSE)$(if $(COMPOSE_PROJECT), -p $(COMPOSE_PROJECT))

.PHONY: images compose-up compose-down compose-secure-up compose-secure-down integration

images:
	@LOCAL_STRATA_IMAGE=$(LOCAL_STRATA_IMAGE) LOCAL_MINIO_IMAGE=$(LOCAL_MINIO_IMAGE) \
		LOCAL_ETCD_IMAGE=$(LOCAL_ETCD_IMAGE) GO=$(GO) images/build.sh

# Starts etcd, MinIO and three brokers, and returns once the demo topic exists.
compose-up: images
	$(COMPOSE_CMD) up -d
	@id="$$($(COMPOSE_CMD) ps -q demo-topic)"; \
	code="$$(docker wait $$id)"; \
	$(COMPOSE_CMD) logs --no-color demo-topic | tail -n 1; \
	test "$$code" = 0 && echo "brokers: strata-1:19091 strata-2:19092 strata-3:19093 (see README: Run with Docker Compose)"

# Stops and removes the containers; the data volumes stay (`docker compose
# down -v` drops them).
compose-down:
	$(COMPOSE_CMD) down

# The secured profile (compose.secure.yaml: SASL_SSL, TLS to etcd and MinIO,
# certificates made by `strata certs` at the first up).
compose-secure-up: images
	$(COMPOSE_CMD) -f compose.secure.yaml up -d
	@id="$$($(COMPOSE_CMD) -f compose.secure.yaml ps -q demo-topic)"; \
	code="$$(docker wait $$id)"; \
	$(COMPOSE_CMD) -f compose.secure.yaml logs --no-color demo-topic | tail -n 1; \
	test "$$code" = 0 && echo "brokers (SASL_SSL, SCRAM-SHA-512 admin): strata-1:19191 strata-2:19192 strata-3:19193"

compose-secure-down:
	$(COMPOSE_CMD) -f compose.secure.yaml down

# The container-based suite (integration/): needs a Docker engine. `make
# test` does not run it (its `go test ./...` skips integration/ unless
# STRATA_INTEGRATION=1).
integration: images
	STRATA_INTEGRATION=1 TESTCONTAINERS_RYUK_DISABLED=true $(LOCAL_IMAGES) COMPOSE="$(COMPOSE)" \
		$(GO) test -count=1 -timeout $(INTEGRATION_TIMEOUT) -v ./integration/...
