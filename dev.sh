#!/usr/bin/env bash
# ParkGuard developer entry point.
#
#   ./dev.sh demo [args]     set up the runtime, then run the demo control center
#   ./dev.sh test [args]     set up everything the tests need, lint, type-check, run pytest [args]
#   ./dev.sh fast [args]     the fast loop: lint, then the unit tests only (no brokers, cameras,
#                            browser, PostgreSQL or long runs over the footage); under 90 s
#   ./dev.sh lint            ruff check, ruff format --check and mypy
#   ./dev.sh bench [args]    run every bench/*.py with the venv's python
#   ./dev.sh setup [mode]    only scripts/setup.sh (runtime | test)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PY=.venv/bin/python

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

# what the fast loop leaves out (markers are set in tests/conftest.py and on the slow modules)
FAST_DESELECT="not e2e and not browser and not postgres and not footage and not slow"

cmd="${1:-}"
[[ $# -gt 0 ]] && shift

case "$cmd" in
    demo)
        scripts/setup.sh runtime
        exec .venv/bin/parkguard-center demo --config configs/demo-center.yaml "$@"
        ;;
    test)
        scripts/setup.sh test
        echo "[dev] ruff check ." >&2
        .venv/bin/ruff check .
        echo "[dev] mypy (edge center protocol common)" >&2
        .venv/bin/mypy
        echo "[dev] pytest $*" >&2
        exec "$PY" -m pytest -q "$@"
        ;;
    fast)
        scripts/setup.sh test
        .venv/bin/ruff check .
        # one worker per core (pytest-xdist); `./dev.sh fast -n 0 …` runs in one process
        echo "[dev] pytest -n auto -m \"$FAST_DESELECT\" $*" >&2
        # test_schemathesis.py is all slow, and seeds a database when imported: not even collected
        exec "$PY" -m pytest -q -n auto -m "$FAST_DESELECT" --ignore=tests/center/api/test_schemathesis.py "$@"
        ;;
    lint)
        scripts/setup.sh test
        .venv/bin/ruff check .
        .venv/bin/ruff format --check .
        exec .venv/bin/mypy
        ;;
    bench)
        scripts/setup.sh runtime
        shopt -s nullglob
        benches=(bench/*.py)
        if [[ ${#benches[@]} -eq 0 ]]; then
            echo "[dev] no benchmarks in bench/" >&2
            exit 0
        fi
        status=0
        for bench in "${benches[@]}"; do
            echo "[dev] bench: $bench" >&2
            "$PY" "$bench" "$@" || { echo "[dev] $bench failed (status $?)" >&2; status=1; }
        done
        exit "$status"
        ;;
    setup)
        exec scripts/setup.sh "${1:-test}"
        ;;
    -h | --help | help | "")
        usage
        [[ -n "$cmd" ]] || exit 2
        ;;
    *)
        echo "dev.sh: unknown command '$cmd'" >&2
        usage >&2
        exit 2
        ;;
esac
