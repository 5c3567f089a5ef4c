#!/usr/bin/env bash
# The whole test suite: the moto test bed (installed into a venv by scripts/setup-moto.sh),
# formatting and lints, then unit tests and the integration tests that run the real cwfix
# binary against moto in server mode. Fails loudly on the first problem.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

command -v cargo >/dev/null || { echo "test.sh: cargo not found: install Rust (rustup)" >&2; exit 1; }
stage() { printf '\n== test.sh: %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }
stage "moto test bed (venv)"
bash scripts/setup-moto.sh

stage "format"
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --check
else
    echo "test.sh: rustfmt not installed; skipping the format check" >&2
fi
stage "lints (clippy; its first run checks the AWS SDK crates once)"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --locked --all-targets --features crash-injection -- -D warnings
else
    echo "test.sh: clippy not installed; skipping lints" >&2
fi
# Unit tests (lib) and the integration tests (tests/it); there are no doc tests to run. The
# build shares every dependency with `cargo build` (feature pins in Cargo.toml), so the demo's
# build is reused; only cwfix itself is compiled again with the test-only crash switch.
stage "unit and integration tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --features crash-injection --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite.
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
echo
echo "tests: $passed passed, $failed failed"
exit "$status"
