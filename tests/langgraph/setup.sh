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
stamp=$venv/.backoffice-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/langgraph" --version >/dev/null 2>&1; then
  if [ ! -x "$venv/bin/python" ]; then
    if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    python3 -m venv "$venv" >&2
  fi
  echo "installing langgraph-cli[inmem] into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$("$venv/bin/langgraph" --version) (langgraph-api $("$venv/bin/python" -c 'import langgraph_api; print(langgraph_api.__version__)'))" >&2
echo "$venv/bin/langgraph"
