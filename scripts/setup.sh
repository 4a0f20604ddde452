#!/usr/bin/env bash
# Bootstrap ParkGuard on a Debian/Ubuntu machine; safe to run again (it only does what is missing).
#
#   scripts/setup.sh runtime   .venv with Python >= 3.11 and `pip install -e .`, and the Debian packages of
#                              the on-site warnings (espeak-ng: the voice, alsa-utils: aplay)
#   scripts/setup.sh test      runtime + `pip install -e '.[test,dev,train-ppe]'` + the Debian packages
#                              the tests use (mosquitto, ffmpeg, GStreamer RTSP, chromium, PostgreSQL, sox)
#
# Run from anywhere; it works in the repository root. Environment:
#   PARKGUARD_PYTHON=/path/to/python3.11   use this interpreter for the venv
#   PARKGUARD_SKIP_APT=1                   never call apt-get (only report what is missing)
#   PARKGUARD_FORCE_PIP=1                  reinstall Python packages even if nothing changed
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
MODE="${1:-runtime}"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

case "$MODE" in
    runtime | test) ;;
    -h | --help | help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown mode '$MODE' (use: runtime | test)" ;;
esac

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------

SUDO=()
can_apt() {
    [[ "${PARKGUARD_SKIP_APT:-}" == 1 ]] && return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
        return 0
    fi
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
        return 0
    fi
    if command -v sudo >/dev/null 2>&1 && [[ -t 0 ]]; then
        SUDO=(sudo) # interactive: sudo asks for the password
        return 0
    fi
    return 1
}

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

APT_UPDATED=0
# apt_install PKG...: install those not installed yet; returns 1 if some stay missing.
apt_install() {
    local missing=() pkg
    command -v dpkg-query >/dev/null 2>&1 || {
        say "not a Debian system: install these yourself if missing: $*"
        return 1
    }
    for pkg in "$@"; do
        installed "$pkg" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if ! can_apt; then
        say "missing Debian packages (not installing: no root or sudo, or PARKGUARD_SKIP_APT=1):"
        say "    apt-get install ${missing[*]}"
        return 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${SUDO[@]}" apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
        APT_UPDATED=1
    fi
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        say "apt-get install failed for: ${missing[*]}"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Python >= 3.11 and the virtual environment
# ---------------------------------------------------------------------------------------------

py_ok() { # py_ok PYTHON: runs and is >= 3.11
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

find_python() {
    local candidate
    if [[ -n "${PARKGUARD_PYTHON:-}" ]]; then
        py_ok "$PARKGUARD_PYTHON" || die "PARKGUARD_PYTHON=$PARKGUARD_PYTHON is not a Python >= 3.11"
        echo "$PARKGUARD_PYTHON"
        return
    fi
    for candidate in python3.11 python3.12 python3.13 python3.14 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && py_ok "$(command -v "$candidate")"; then
            command -v "$candidate"
            return
        fi
    done
    return 1
}

make_venv() {
    local python
    python=$(find_python) || die "Python >= 3.11 not found (tried python3.11 .. python3.14, python3).
    On Debian 12: apt-get install python3 python3-venv; elsewhere install Python 3.11+
    or set PARKGUARD_PYTHON=/path/to/python3.11"
    if [[ -x "$VENV/bin/python" ]] && py_ok "$VENV/bin/python" && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    if [[ -e "$VENV" ]]; then
        say "replacing the broken or too old .venv"
        rm -rf "$VENV"
    fi
    # Debian splits venv/ensurepip into python3.X-venv.
    if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        local ver
        ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install "python${ver}-venv" || apt_install python3-venv ||
            die "$python cannot make a virtual environment: install python${ver}-venv (Debian)"
    fi
    say "creating .venv with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV" || die "python -m venv failed"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null || say "could not upgrade pip; going on"
}

# pip_install STAMP SPEC...: pip install unless pyproject.toml is unchanged since the last success.
pip_install() {
    local stamp="$VENV/.parkguard-$1" digest
    shift
    digest=$( (cat pyproject.toml; echo "$*"; "$VENV/bin/python" --version) | sha256sum | cut -d' ' -f1)
    if [[ "${PARKGUARD_FORCE_PIP:-}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
        return 0
    fi
    say "installing Python packages: pip install $*"
    local log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" >"$log" 2>&1; then
        tail -n 25 "$log" >&2
        die "pip install $* failed (full log: $log)"
    fi
    echo "$digest" >"$stamp"
}

# ---------------------------------------------------------------------------------------------

# What the runtime needs from Debian: pango and a CJK font for the center's reports (WeasyPrint
# renders the PDF with pango; Chinese text and chart labels), espeak-ng and aplay for the edge's
# on-site warnings (现场提醒: Mandarin voice cmn). Missing, the commands that need them say so.
RUNTIME_DEBS=(libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk espeak-ng alsa-utils)

setup_runtime() {
    apt_install "${RUNTIME_DEBS[@]}" ||
        say "without these the center cannot render reports (PDF) and a node refuses a warning with a message to speak"
    make_venv
    pip_install runtime -e .
}

TEST_DEBS=(
    mosquitto mosquitto-clients
    ffmpeg
    python3-gi gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    chromium fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0
    postgresql
    "${RUNTIME_DEBS[@]}" sox
)

setup_test() {
    # System packages first: a Debian python3-venv may be among what runtime needs.
    local apt_ok=1
    apt_install "${TEST_DEBS[@]}" || apt_ok=0
    setup_runtime
    # train-ppe: PyTorch (CPU) for the PPE classifier's training test; never in the runtime install
    pip_install test -e '.[test,dev,train-ppe]'
    unpack_nginx
    unpack_nats
    if [[ $apt_ok -eq 0 ]]; then
        say "some Debian packages are missing: tests that need them will fail and say which"
    fi
}

# nginx for tests/deploy/test_nginx.py (docker/nginx.conf before two replicas), unpacked under
# .cache/nginx rather than installed: an installed nginx would start a server on port 80.
unpack_nginx() {
    local dir=.cache/nginx
    [[ -x "$dir/usr/sbin/nginx" ]] && return 0
    command -v apt-get >/dev/null 2>&1 || return 0
    mkdir -p "$dir/debs"
    if (cd "$dir/debs" && apt-get download nginx nginx-common >/dev/null 2>&1); then
        for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir"; done
    else
        say "could not download nginx (apt-get download): tests/deploy/test_nginx.py will be skipped"
    fi
}

# nats-server for tests/e2e/test_jetstream.py (the JetStream ingest), unpacked under .cache/nats
# rather than installed, for the same reason: the package starts a server on port 4222.
unpack_nats() {
    local dir=.cache/nats
    command -v nats-server >/dev/null 2>&1 && return 0
    [[ -x "$dir/usr/sbin/nats-server" ]] && return 0
    command -v apt-get >/dev/null 2>&1 || return 0
    mkdir -p "$dir/debs"
    if (cd "$dir/debs" && apt-get download nats-server >/dev/null 2>&1); then
        for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir"; done
    else
        say "could not download nats-server (apt-get download): tests/e2e/test_jetstream.py will fail and say so"
    fi
}

case "$MODE" in
    runtime) setup_runtime ;;
    test) setup_test ;;
esac
say "ready ($MODE): $("$VENV/bin/python" --version 2>&1) in .venv"
