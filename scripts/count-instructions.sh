#!/usr/bin/env bash
# Instructions per operation, counted with callgrind (load-independent): runs the `count`
# example of the benches package at N and 2N and prints (I(2N) - I(N)) / N for each operation.
#   scripts/count-instructions.sh [N] [OPERATION...]   (default N = 20000; all operations)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
shift || true
ops=("$@")
[ ${#ops[@]} -eq 0 ] && ops=(seed bare tower tower_no_metrics)
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --locked -q -p splitway-benches --example count
bin=target/release/examples/count
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" >/dev/null 2>"$out/log"
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$out/log"
}
for op in "${ops[@]}"; do
    a=$(total "$op" "$n")
    b=$(total "$op" $((2 * n)))
    echo "$op: $(( (b - a) / n )) instructions per operation (N = $n)"
done
