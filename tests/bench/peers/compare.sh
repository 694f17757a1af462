#!/usr/bin/env bash
# The shared workload against @modelcontextprotocol/server-memory and backoffice mcp, through
# the same Python client (mcp_bench.py), one after the other on this machine.
#   tests/bench/peers/compare.sh [ITEMS]        (default 1000,10000)
# Needs target/release/backoffice, target/mcp-venv (.ci/run makes it; add psutil) and the npm
# package in $PEERS_NODE (default /tmp/peers-node):
#   npm install --prefix /tmp/peers-node @modelcontextprotocol/server-memory
set -euo pipefail
cd "$(dirname "$0")/../../.."
items="${1:-1000,10000}"
python=target/mcp-venv/bin/python
"$python" -c "import psutil" 2>/dev/null || target/mcp-venv/bin/pip install -q psutil
export PEERS_NODE="${PEERS_NODE:-/tmp/peers-node}"
"$python" tests/bench/peers/mcp_bench.py --server memory --items "$items" --repeats 1 --searches 100
"$python" tests/bench/peers/mcp_bench.py --server custom --adapter context-registry \
  --cmd "$PWD/target/release/backoffice --state {tmp}/state mcp" --items "$items" --repeats 1 --searches 100
