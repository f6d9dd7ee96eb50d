# The project's commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo
PURE_CRATES := protocol rings smst

.PHONY: test lint fmt-check clippy firewall unit-tests deps bench localnet help

help:
	@echo "make test      fmt check, clippy -D warnings, dependency firewall, all tests"
	@echo "make lint      fmt check, clippy, dependency firewall"
	@echo "make bench     criterion benchmarks (figures go to docs/benchmarks.md)"
	@echo "make localnet  the whole network on one machine, with a settlement report"
	@echo "make fuzz      cargo-fuzz targets (nightly), FUZZ_SECONDS each (default 60)"

test: deps lint unit-tests

lint: fmt-check clippy firewall

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

# protocol, rings and smst stay pure: no tokio, fred, hyper, axum or tonic.
firewall:
	scripts/dependency-firewall.sh $(PURE_CRATES)

unit-tests:
	scripts/run-tests.sh

# Tools the tests need that a fresh machine lacks.
deps:
	scripts/install-deps.sh

bench:
	$(CARGO) bench --workspace

# The whole network on one machine (chainsim, redis-server, demo JSON-RPC and
# REST backends, 2 relayers, 2 miners, traffic) with a summary; extra flags
# via LOCALNET_ARGS, e.g. make localnet LOCALNET_ARGS="--sessions 4 --rps 50"
# or LOCALNET_ARGS="--keep-running" (see README "The local network").
LOCALNET_ARGS ?=
localnet: deps
	$(CARGO) run --quiet -p cmd --bin pocket-relay-miner -- localnet $(LOCALNET_ARGS)

# The relayer on loopback (chainsim, backend, Redis, `pocket-relay-miner
# relayer` in its own process): relays/s, latency, CPU per relay beside ring
# verify + sign, and a 1,000 relays/s run. About a minute after the build;
# figures go to docs/benchmarks.md ("relayer"). Knobs: BENCH_SECONDS,
# BENCH_REQUESTS, BENCH_CONCURRENCY, BENCH_RATE_SECONDS, BENCH_SPLIT_SECONDS,
# BENCH_RELAYER=inprocess.
.PHONY: bench-relayer
bench-relayer: deps
	$(CARGO) bench -p cmd --bench relayer

# Coverage-guided fuzzing of what arrives from the network: ring signatures,
# gob closest proofs, relay requests/responses and their HTTP payloads (see
# fuzz/README.md). Needs a nightly toolchain and `cargo install cargo-fuzz`;
# seeds come from ../shared/vectors. FUZZ_TARGETS and FUZZ_SECONDS select.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= ring_verify smst_proof relay_messages
VECTORS ?= ../shared/vectors
.PHONY: fuzz
fuzz:
	cd fuzz && python3 seeds.py ../$(VECTORS) corpus
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		cargo +nightly fuzz run -O $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done
