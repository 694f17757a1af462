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
. "$root/tests/venv.sh"
pinned_venv "$venv" "$req" "$venv/bin/python" -c "import anki.collection"
echo "anki $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("anki"))')" >&2
echo "$venv/bin/python"
