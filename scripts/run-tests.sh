#!/usr/bin/env bash
# Runs every test in the workspace and prints one closing count line.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
log=target/test-output.log
set +e
cargo test --workspace --all-features --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Second pass of the Redis suites against Redis 8.2+ (XACKDEL), when available.
redis8=$(scripts/redis8.sh)
if [[ $status -eq 0 && -n "$redis8" ]]; then
    echo "== Redis suites again on $("$redis8" --version | cut -d' ' -f3) =="
    set +e
    # --workspace keeps the feature set of the first pass: nothing is rebuilt.
    REDIS_SERVER_BIN="$redis8" cargo test --workspace --all-features --locked --test streams --test leases --test ingest 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
    set -e
else
    echo "== Redis 8.2 binary not available: second pass skipped =="
fi
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) }
} END { print p+0, f+0 }' "$log")
echo
echo "tests: ${passed} passed, ${failed} failed"
if [[ $status -ne 0 ]]; then exit "$status"; fi
if [[ $passed -eq 0 ]]; then echo "no test ran" >&2; exit 1; fi
