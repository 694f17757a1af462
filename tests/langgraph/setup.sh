#!/usr/bin/env bash
# Installs the LangGraph dev server (`langgraph dev`, in-memory runtime) into target/langgraph-venv
# from requirements.txt, unless that venv already holds exactly these pins, and prints the path of
# its `langgraph` binary on stdout (everything else goes to stderr):
#
#   langgraph=$(tests/langgraph/setup.sh)
#
# Needs PyPI only while installing; the server itself runs offline when started as WIRE.md says.
# LANGGRAPH_VENV overrides the venv's location.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${LANGGRAPH_VENV:-$root/target/langgraph-venv}
req=$here/requirements.txt
. "$root/tests/venv.sh"
pinned_venv "$venv" "$req" "$venv/bin/langgraph" --version
echo "$("$venv/bin/langgraph" --version) (langgraph-api $("$venv/bin/python" -c 'import langgraph_api; print(langgraph_api.__version__)'))" >&2
echo "$venv/bin/langgraph"
