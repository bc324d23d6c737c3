#!/usr/bin/env bash
# Run checkov on infra/ from its own virtual environment (.checkov-venv/, git-ignored).
#
# checkov pins many libraries (boto3, networkx, an older pycep-parser, ...) that would fight the app's
# dependencies, so it never goes into .venv. The venv is created on first use (and re-created when
# CHECKOV_VERSION changes); set CHECKOV_VENV to put it elsewhere.
#
#   tools/infra_check/checkov.sh --install-only   create/update the venv and exit
#   tools/infra_check/checkov.sh [checkov args]   run checkov (default: the project's infra scan)
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.checkov-venv}"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/checkov" ]] || ! grep -qx "$CHECKOV_VERSION" "$VENV/.checkov-version" 2>/dev/null; then
    echo "creating $VENV with checkov==$CHECKOV_VERSION (about a minute)" >&2
    "$PYTHON" -m venv "$VENV"
    log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check "checkov==$CHECKOV_VERSION" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "pip install checkov==$CHECKOV_VERSION failed (full log: $log)" >&2
        exit 2
    fi
    echo "$CHECKOV_VERSION" >"$VENV/.checkov-version"
fi

if [[ "${1:-}" == "--install-only" ]]; then
    exit 0
fi

cd "$ROOT"
if [[ $# -eq 0 ]]; then
    set -- -d infra --framework bicep --config-file infra/.checkov.yaml
fi
# Offline: no Prisma Cloud download (--skip-download) and no policy-id mapping fetch (BC_SKIP_MAPPING).
export BC_SKIP_MAPPING=TRUE
exec "$VENV/bin/checkov" --skip-download "$@"
