#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the test suite (nothing generated is committed):
# - config_load: every config under examples/config/ (subfolders included) and
#   crates/splitway/tests/corpus/bad/,
#   behind the target's format byte (0 = YAML, 1 = TOML);
# - rule_parse: every string literal of crates/splitway/tests/rules_v{1,2,3}.rs, behind the
#   target's syntax byte (0 = v1 string, 1 = v2, 2 = v3, 3 = v1 list, one string per line).
# - proxy_connection: a few raw client byte streams (HTTP/1 requests, pipelined ones, an
#   upgrade, an HTTP/2 preface with SETTINGS, a request on h2c), written below;
# - upstream_response: a few server answers (each framing, a 1xx, a 101), written below.
# The other targets take `arbitrary` structures, for which libFuzzer grows a corpus quickly
# from nothing. Safe to run again: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/config_load corpus/rule_parse corpus/route_request corpus/cookies \
    corpus/table_vs_reference corpus/proxy_connection corpus/upstream_response

seed() { # seed TARGET PREFIX-BYTE FILE
    local out
    out="corpus/$1/seed-$(cat <(printf "\\x$2") "$3" | sha1sum | cut -c1-16)"
    cat <(printf "\\x$2") "$3" >"$out"
}

# Raw connections (printf escapes), each its own seed, named by content.
raw() { # BYTES [TARGET]
    local tmp target=${2:-proxy_connection}
    tmp=$(mktemp)
    printf "$1" >"$tmp"
    cp "$tmp" "corpus/$target/seed-$(sha1sum <"$tmp" | cut -c1-16)"
    rm -f "$tmp"
}
raw 'GET / HTTP/1.1\r\nHost: web.example\r\n\r\n'
raw 'GET /a?b=c HTTP/1.1\r\nHost: web.example\r\n\r\nPOST / HTTP/1.1\r\nHost: web.example\r\nContent-Length: 3\r\n\r\nabc'
raw 'POST / HTTP/1.1\r\nHost: web.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
raw 'GET / HTTP/1.1\r\nHost: web.example\r\nHost: other.example\r\n\r\nGET / HTTP/1.0\r\n\r\n'
raw 'GET / HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'
raw 'GET /ws HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
raw 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0'
# The preface, SETTINGS, and HEADERS (stream 1, END_STREAM|END_HEADERS) for GET
# http://web.example/ in HPACK: :method GET, :scheme http, :path /, :authority web.example.
raw 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0\0\0\20\1\5\0\0\0\1\202\206\204\1\13web.example'

# Server answers (upstream_response: a method byte, odd for HEAD; a piece-size byte; the bytes).
raw '\0\3HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' upstream_response
raw '\0\7HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n' upstream_response
raw '\0\1HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n' upstream_response
raw '\1\2HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n' upstream_response
raw '\0\4HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nup to the close' upstream_response
raw '\0\5HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\201\0' upstream_response

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
