#!/usr/bin/env bash
# CI smoke run of every fuzz target: a short run each (FUZZ_SMOKE_SECONDS, default 30) from
# the seed corpus, when a nightly toolchain and cargo-fuzz are installed. Without them it says
# why and exits 0, so CI passes on stable alone. A crash, a build failure or a hang fails it.
#   FUZZ_SMOKE=0            skip
#   FUZZ_SMOKE_SECONDS=N    seconds per target
set -euo pipefail
cd "$(dirname "$0")"

skip() {
    echo "fuzz smoke: skipped: $*"
    exit 0
}
[ "${FUZZ_SMOKE:-1}" = 0 ] && skip "FUZZ_SMOKE=0"
command -v cargo >/dev/null || skip "no cargo"
cargo +nightly --version >/dev/null 2>&1 ||
    skip "no nightly toolchain (rustup toolchain install nightly)"
cargo fuzz --version >/dev/null 2>&1 ||
    skip "cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"

seconds=${FUZZ_SMOKE_SECONDS:-30}
targets=$(cargo fuzz list)
# Debug assertions (overflow checks) on; no sanitizer: the project has no unsafe code, and
# this runs several times faster than ASan.
flags=(-O -a --sanitizer none)
echo "fuzz smoke: building $(echo "$targets" | wc -w) targets with $(cargo +nightly --version)"
cargo +nightly fuzz build "${flags[@]}"
./seed.sh

failed=()
for t in $targets; do
    log=$(mktemp)
    # A scratch corpus, so the smoke run leaves corpus/ to the long runs.
    scratch=$(mktemp -d)
    if cargo +nightly fuzz run "${flags[@]}" "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        echo "fuzz smoke: $t ok: $(grep -E '^Done [0-9]+ runs' "$log" || echo 'done')," \
            "$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)"
    else
        echo "fuzz smoke: $t FAILED; the end of its log:"
        tail -n 40 "$log"
        failed+=("$t")
    fi
    rm -rf "$log" "$scratch"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz smoke: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz smoke: all targets ran ${seconds}s without a crash"
