#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the test suite (nothing generated is committed):
# - config_load: every config under examples/config/ (subfolders included) and
#   crates/splitway/tests/corpus/bad/,
#   behind the target's format byte (0 = YAML, 1 = TOML);
# - rule_parse: every string literal of crates/splitway/tests/rules_v{1,2,3}.rs, behind the
#   target's syntax byte (0 = v1 string, 1 = v2, 2 = v3, 3 = v1 list, one string per line).
# The other targets take `arbitrary` structures, for which libFuzzer grows a corpus quickly
# from nothing. Safe to run again: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/config_load corpus/rule_parse corpus/route_request corpus/cookies \
    corpus/table_vs_reference

seed() { # seed TARGET PREFIX-BYTE FILE
    local out
    out="corpus/$1/seed-$(cat <(printf "\\x$2") "$3" | sha1sum | cut -c1-16)"
    cat <(printf "\\x$2") "$3" >"$out"
}

# Every file, in subfolders too (examples/config/axum/).
find "$root/examples/config" "$root/crates/splitway/tests/corpus/bad" -type f | while read -r f; do
    case "$f" in
    *.toml) seed config_load 01 "$f" ;;
    *) seed config_load 00 "$f" ;;
    esac
done

if ! command -v python3 >/dev/null; then
    echo "seed: python3 not found; rule_parse starts from the config seeds only" >&2
    exit 0
fi
python3 - "$root/crates/splitway/tests" <<'PY'
import hashlib, pathlib, re, sys
tests = pathlib.Path(sys.argv[1])
literal = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)
escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
def unescape(s):
    return re.sub(r'\\(.)', lambda m: escapes.get(m.group(1), m.group(0)), s)
out = pathlib.Path("corpus/rule_parse")
for name, prefixes in [("rules_v1.rs", [0, 3]), ("rules_v2.rs", [1]), ("rules_v3.rs", [2])]:
    text = (tests / name).read_text()
    for m in literal.finditer(text):
        s = m.group(2) if m.group(2) is not None else unescape(m.group(3))
        if not s or len(s) > 4096:
            continue
        for p in prefixes:
            data = bytes([p]) + s.encode()
            (out / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)
PY
echo "seed: $(ls corpus/config_load | wc -l) config_load and $(ls corpus/rule_parse | wc -l) rule_parse seeds"
