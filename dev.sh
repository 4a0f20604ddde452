#!/usr/bin/env bash
# ParkGuard developer entry point.
#
#   ./dev.sh demo [args]     set up the runtime, then run the demo control center
#   ./dev.sh test [args]     set up everything the tests need, lint, type-check, run pytest [args]:
#                            the tests without processes or browser on every core, then the
#                            end-to-end and browser tests one at a time
#   ./dev.sh fast [args]     the fast loop: lint, then the unit tests only (no brokers, cameras,
#                            browser, PostgreSQL or long runs over the footage); under 90 s
#   ./dev.sh lint            ruff check, ruff format --check and mypy
#   ./dev.sh bench [args]    run every bench/*.py with the venv's python
#   ./dev.sh setup [mode]    only scripts/setup.sh (runtime | test)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PY=.venv/bin/python

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

# what the fast loop leaves out (markers are set in tests/conftest.py and on the slow modules)
FAST_DESELECT="not e2e and not browser and not postgres and not footage and not slow"
# the first, parallel pass of ./dev.sh test
UNIT_PASS="not e2e and not browser and not single_process"

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
        for arg in "$@"; do
            if [[ $arg == -m* ]]; then  # the caller chose the tests by marker: one pass, as asked
                echo "[dev] pytest $*" >&2
                exec "$PY" -m pytest -q "$@"
            fi
        done
        # Two passes. First every test that starts no broker, camera, center or browser, one worker
        # per core (pytest-xdist; each worker gets its own PostgreSQL database). Then the end-to-end
        # and browser tests one at a time (their timing assumes the machine is theirs), and those
        # marked single_process (schemathesis' items share one node id: xdist would run one of them).
        set +e
        echo "[dev] pytest -n auto -m \"$UNIT_PASS\" $*" >&2
        "$PY" -m pytest -q -n auto --dist loadscope -m "$UNIT_PASS" "$@"
        first=$?
        echo "[dev] pytest -m \"not ($UNIT_PASS)\" $*" >&2
        "$PY" -m pytest -q -m "not ($UNIT_PASS)" "$@"
        second=$?
        set -e
        # 5: a pass collected nothing (the paths given hold one kind only); a failure wins
        for status in "$first" "$second"; do
            [[ $status -ne 0 && $status -ne 5 ]] && exit "$status"
        done
        [[ $first -eq 5 && $second -eq 5 ]] && exit 5
        exit 0
        ;;
    fast)
        scripts/setup.sh test
        .venv/bin/ruff check .
        # one worker per core (pytest-xdist), a module's tests on one worker (its module fixtures
        # are made once); `./dev.sh fast -n 0 …` runs in one process
        echo "[dev] pytest -n auto -m \"$FAST_DESELECT\" $*" >&2
        # test_schemathesis.py is all slow, and seeds a database when imported: not even collected
        exec "$PY" -m pytest -q -n auto --dist loadscope -m "$FAST_DESELECT" \
            --ignore=tests/center/api/test_schemathesis.py "$@"
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
