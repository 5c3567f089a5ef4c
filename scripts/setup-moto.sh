#!/usr/bin/env bash
# Create (or refresh) the Python venv that hosts the moto test bed used by the
# integration tests (tests/it) and scripts/demo.sh.
#
#   bash scripts/setup-moto.sh            # installs into <repo>/.venv-moto
#   CWFIX_MOTO_VENV=/some/dir bash scripts/setup-moto.sh
#
# Idempotent: a stamp file inside the venv holds the sha256 of
# tests/moto/requirements.txt (plus the python version); when it matches, the
# script only verifies the imports and exits in well under a second.
set -euo pipefail

die() { echo "setup-moto: ERROR: $*" >&2; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$repo/tests/moto/requirements.txt"
venv="${CWFIX_MOTO_VENV:-$repo/.venv-moto}"
python="${PYTHON:-python3}"

[ -f "$req" ] || die "missing $req"
command -v "$python" >/dev/null 2>&1 || die "'$python' not found (set PYTHON=/path/to/python3 >= 3.9)"

pyver="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" \
    || die "'$python' does not run"
want="$( (cat "$req"; echo "python=$pyver") | sha256sum | cut -d' ' -f1)"
stamp="$venv/.cwfix-requirements.sha256"

check_imports() {
    "$venv/bin/python" - <<'PY'
import boto3, cbor2, moto, werkzeug  # noqa: F401
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: F401
PY
    [ -x "$venv/bin/aws" ] || { echo "setup-moto: $venv/bin/aws missing" >&2; return 1; }
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    if check_imports; then
        echo "setup-moto: up to date: $venv"
        exit 0
    fi
    echo "setup-moto: stamp matches but the venv is broken; reinstalling" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-moto: creating venv $venv (python $pyver)"
    "$python" -m venv "$venv" || die "python3 -m venv $venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi

echo "setup-moto: installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned packages from $req"
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip >/dev/null 2>&1 \
    || echo "setup-moto: (pip self-upgrade failed; continuing with the bundled pip)" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req" \
    || die "pip install -r $req failed (see output above)"
check_imports || die "packages installed but imports fail in $venv"
echo "$want" > "$stamp"
echo "setup-moto: installed into $venv"
echo "setup-moto: python=$venv/bin/python aws=$venv/bin/aws"
