#!/usr/bin/env bash
# Installs Anki's Python library (`anki`, no Qt) into target/anki-venv from requirements.txt,
# unless that venv already holds exactly these pins and imports, and prints the path of its
# `python` on stdout (everything else goes to stderr):
#
#   python=$(tests/anki/setup.sh)
#   "$python" tests/anki/import_check.py first-export.txt second-export.txt
#
# tests/cards.rs imports `backoffice cards export` files with it, as Anki's File > Import does.
# Needs PyPI only while installing. ANKI_VENV overrides the venv's location.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${ANKI_VENV:-$root/target/anki-venv}
req=$here/requirements.txt
stamp=$venv/.backoffice-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c "import anki.collection" >/dev/null 2>&1; then
  if [ ! -x "$venv/bin/python" ]; then
    if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    python3 -m venv "$venv" >&2
  fi
  echo "installing anki into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "anki $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("anki"))')" >&2
echo "$venv/bin/python"
