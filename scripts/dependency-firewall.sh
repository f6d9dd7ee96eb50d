#!/usr/bin/env bash
# Fails when a pure crate depends, directly or transitively (normal edges, the
# crate's default features), on an I/O runtime or transport crate.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|tokio-stream|tokio-util|fred|redis|hyper|hyper-util|axum|tonic|tonic-web|reqwest|h2) '
status=0
for crate in "$@"; do
    deps=$(cargo tree --quiet --locked -p "$crate" -e normal --prefix none --format '{p}' | sort -u)
    bad=$(grep -E "$forbidden" <<<"$deps" || true)
    if [[ -n "$bad" ]]; then
        echo "dependency firewall: pure crate '$crate' depends on:" >&2
        sed 's/^/  /' <<<"$bad" >&2
        echo "  (see: cargo tree -p $crate -e normal -i <name>)" >&2
        status=1
    else
        echo "dependency firewall: $crate is pure ($(wc -l <<<"$deps") crates in its tree)"
    fi
done
exit $status
