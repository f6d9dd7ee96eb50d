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
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) }
} END { print p+0, f+0 }' "$log")
echo
echo "tests: ${passed} passed, ${failed} failed"
if [[ $status -ne 0 ]]; then exit "$status"; fi
if [[ $passed -eq 0 ]]; then echo "no test ran" >&2; exit 1; fi
