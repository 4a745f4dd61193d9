#!/usr/bin/env bash
# Walks through the talk's three phases with the splitway CLI (no network: only routing
# decisions are computed). Run from anywhere: ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p splitway-cli
splitway() { ./target/release/splitway "$@"; }
C=examples/config
run() { echo; echo "\$ splitway $(printf '%q ' "$@")"; splitway "$@"; }

echo "== Every configuration of the talk passes the check"
run check $C/phase1.yaml $C/phase2.yaml $C/phase3.yaml $C/canary-host.yaml $C/cohort.yaml $C/traefik-v1.toml

echo; echo "== Phase 1: only beta testers (cookie _AUSER_TYPE=canary) reach Kubernetes"
run explain --config $C/phase1.yaml --url http://web.agendor.com.br/deals -H 'Cookie: _AUSER_TYPE=canary'
run explain --config $C/phase1.yaml --url http://web.agendor.com.br/deals

echo; echo "== Phase 2: everyone else is split 5:5:1, spread out rather than in runs"
run simulate --config $C/phase2.yaml --url http://web.agendor.com.br/ -n 11000
run simulate --config $C/phase2.yaml --url http://web.agendor.com.br/ -n 11 --sequence

echo; echo "== Phase 2, by account: a 9:1 cohort keeps every user on one side"
run simulate --config $C/cohort.yaml --url http://web.agendor.com.br/ -n 10000 --vary cookie:agendor_uid
run explain --config $C/cohort.yaml --url http://web.agendor.com.br/ -H 'Cookie: agendor_uid=account-42'

echo; echo "== Phase 3: the cut-over; an unknown host is a 404"
run simulate --config $C/phase3.yaml --url http://web.agendor.com.br/ -n 100
run explain --config $C/phase3.yaml --url /deals -H 'Host: example.com' --json
