#!/usr/bin/env bash
# Makes the picture of the metrics collector in docs/src/guide/metrics-and-logs.md (docs/src/images/collector-graph.png):
# a 5-node refnode network under a scratch root, some writes, the collector's
# graph of every node's gossip rate, taken with headless Chromium (Debian's
# chromium package). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p tmpnetctl
ctl=target/debug/tmpnetctl
TMPNET_ROOT_DIR="$(mktemp -d)"
export TMPNET_ROOT_DIR
cleanup() {
    "$ctl" stop-network >/dev/null 2>&1 || true
    "$ctl" stop-metrics-collector >/dev/null 2>&1 || true
    rm -rf "$TMPNET_ROOT_DIR"
}
trap cleanup EXIT
"$ctl" start-metrics-collector
"$ctl" start-network --node-count 5 >"$TMPNET_ROOT_DIR/start.txt"
collector="$(sed -n 's/^collector: \(http:\/\/[^/]*\)\/.*/\1/p' "$TMPNET_ROOT_DIR/start.txt")"
uuid="$(sed -n 's/.*var-network_uuid=\([^&]*\).*/\1/p' "$TMPNET_ROOT_DIR/start.txt")"
mapfile -t uris < <("$ctl" status | awk 'NR>2 {print $3}')
for round in $(seq 1 40); do
    uri="${uris[$((round % ${#uris[@]}))]}"
    curl -s -X PUT --data "value-$round" "$uri/ext/kv/key-$((round % 7))" >/dev/null
    sleep 1
done
expr="rate(refnode_gossip_received_total{network_uuid=\"$uuid\"}[15s])"
query="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$expr")"
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,820 \
    --virtual-time-budget=10000 --screenshot="$PWD/docs/src/images/collector-graph.png" \
    "$collector/graph?g0.expr=$query&g0.tab=0&g0.range_input=1m" 2>/dev/null
echo "wrote docs/src/images/collector-graph.png"
