# Sourced by tests/*/setup.sh: `pinned_venv VENV REQUIREMENTS CHECK...` makes VENV hold exactly
# REQUIREMENTS (a hash stamp remembers what was installed) and reinstalls when the pins moved
# or `CHECK...` (run as a command) fails. Installs python3-venv when the machine has none.
# Everything it prints goes to stderr; stdout stays for the caller's answer.
pinned_venv() {
  local venv=$1 req=$2
  shift 2
  local stamp=$venv/.backoffice-requirements.sha256
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$@" >/dev/null 2>&1; then
    return 0
  fi
  if [ ! -x "$venv/bin/python" ]; then
    if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    fi
    python3 -m venv "$venv" >&2
  fi
  echo "installing $(basename "$req" .txt) of $(dirname "$req") into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
}
