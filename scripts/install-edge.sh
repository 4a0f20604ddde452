#!/usr/bin/env bash
# Install (or upgrade) a ParkGuard edge node on a Debian/Ubuntu industrial PC, without containers.
# Run as root from a checkout; running it again upgrades and keeps the config, outbox and state.
#
#   sudo scripts/install-edge.sh                 install or upgrade, then (re)start the service
#   sudo scripts/install-edge.sh --rollback      go back to the previous release
#
# What it makes (defaults):
#   user parkguard (system, no shell)   /opt/parkguard/releases/<time>-<version>/{venv,models}
#   /opt/parkguard/current -> the release in use (switched only after `parkguard-edge check` passed)
#   /etc/parkguard/edge.yaml            from configs/edge.example.yaml, only when absent (never overwritten)
#   /etc/parkguard/edge.env             secrets for the unit's environment, only when absent (0640)
#   /var/lib/parkguard/{state,evidence} the outbox, remote config, evidence (kept by upgrades)
#   /etc/systemd/system/parkguard-edge.service   Type=notify, WatchdogSec, hardened
#
# Options:
#   --root DIR          install everything under DIR (a scratch root: every default path prefixed)
#   --prefix DIR        program folder (default /opt/parkguard)
#   --config-dir DIR    (default /etc/parkguard)     --state-dir DIR  (default /var/lib/parkguard)
#   --unit-dir DIR      (default /etc/systemd/system)
#   --python PATH       Python >= 3.11 for the venv (default: python3.11 .. python3)
#   --wheel FILE        install this parkguard wheel instead of building one from the checkout
#   --wheelhouse DIR    install offline: every package from this folder (pip --no-index --find-links)
#   --no-systemd        do not install, enable or start the unit (containers, chroots, tests)
#   --no-user           do not create the user nor chown (files stay the caller's; tests)
#   --no-start          install and enable the unit but do not (re)start it
#   --keep N            releases kept (default 2: the current one and one to roll back to)
#   --rollback          switch current to the previous release and restart
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=""
PREFIX="" CONFIG_DIR="" STATE_DIR="" UNIT_DIR=""
PYTHON="" WHEEL="" WHEELHOUSE=""
SYSTEMD=1 MAKE_USER=1 START=1 KEEP=2 ROLLBACK=0
USER_NAME=parkguard
UNIT=parkguard-edge.service

say() { printf '[install-edge] %s\n' "$*" >&2; }
die() { printf '[install-edge] error: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
        --prefix) PREFIX=${2:?}; shift 2 ;;
        --config-dir) CONFIG_DIR=${2:?}; shift 2 ;;
        --state-dir) STATE_DIR=${2:?}; shift 2 ;;
        --unit-dir) UNIT_DIR=${2:?}; shift 2 ;;
        --python) PYTHON=${2:?}; shift 2 ;;
        --wheel) WHEEL=${2:?}; shift 2 ;;
        --wheelhouse) WHEELHOUSE=${2:?}; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --no-user) MAKE_USER=0; shift ;;
        --no-start) START=0; shift ;;
        --keep) KEEP=${2:?}; shift 2 ;;
        --rollback) ROLLBACK=1; shift ;;
        -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[[ $KEEP =~ ^[1-9][0-9]*$ ]] || die "--keep needs a number >= 1"
if [[ -n $ROOT ]]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
fi
PREFIX=${PREFIX:-$ROOT/opt/parkguard}
CONFIG_DIR=${CONFIG_DIR:-$ROOT/etc/parkguard}
STATE_DIR=${STATE_DIR:-$ROOT/var/lib/parkguard}
UNIT_DIR=${UNIT_DIR:-$ROOT/etc/systemd/system}
for d in "$PREFIX" "$CONFIG_DIR" "$STATE_DIR" "$UNIT_DIR"; do
    [[ $d == /* ]] || die "paths must be absolute: $d"
done

if [[ $MAKE_USER -eq 1 || $SYSTEMD -eq 1 ]]; then
    [[ $(id -u) -eq 0 ]] || die "run as root (or with --no-user --no-systemd for a scratch install)"
fi
if [[ $SYSTEMD -eq 1 ]] && ! command -v systemctl >/dev/null 2>&1; then
    die "systemctl not found: use --no-systemd (and run the node another way)"
fi

# as_user CMD...: run as the service's user (or as the caller with --no-user)
as_user() {
    if [[ $MAKE_USER -eq 1 ]]; then
        runuser -u "$USER_NAME" -- "$@"
    else
        "$@"
    fi
}

restart_service() {
    [[ $SYSTEMD -eq 1 ]] || return 0
    systemctl daemon-reload
    systemctl enable "$UNIT" >/dev/null
    if [[ $START -eq 1 ]]; then
        systemctl restart "$UNIT"
        say "started: systemctl status ${UNIT%.service}; logs: journalctl -u ${UNIT%.service} -f"
    else
        say "enabled, not started (--no-start): systemctl start ${UNIT%.service}"
    fi
}

# ---------------------------------------------------------------------------------------------
# rollback
# ---------------------------------------------------------------------------------------------
if [[ $ROLLBACK -eq 1 ]]; then
    [[ -L $PREFIX/current ]] || die "no release installed under $PREFIX"
    now=$(readlink "$PREFIX/current")
    prev=""
    for dir in "$PREFIX"/releases/*/; do # a glob sorts by name: by time
        rel=$(basename "$dir")
        [[ "releases/$rel" == "$now" ]] && break
        prev=$rel
    done
    [[ -n $prev ]] || die "no release older than $now to roll back to"
    ln -sfn "releases/$prev" "$PREFIX/current.new"
    mv -T "$PREFIX/current.new" "$PREFIX/current"
    say "current -> releases/$prev (was $now)"
    restart_service
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# the user and the folders
# ---------------------------------------------------------------------------------------------
if [[ $MAKE_USER -eq 1 ]] && ! id -u "$USER_NAME" >/dev/null 2>&1; then
    say "creating system user $USER_NAME"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "ParkGuard edge node" "$USER_NAME"
fi

mkdir -p "$PREFIX/releases" "$CONFIG_DIR" "$STATE_DIR/state" "$STATE_DIR/evidence"
chmod 0755 "$PREFIX"
chmod 0750 "$CONFIG_DIR" "$STATE_DIR" "$STATE_DIR/state" "$STATE_DIR/evidence"
if [[ $MAKE_USER -eq 1 ]]; then
    chown root:"$USER_NAME" "$CONFIG_DIR"
    # the node's own: outbox, remote config, evidence (an upgrade keeps every file in them)
    chown -R "$USER_NAME:$USER_NAME" "$STATE_DIR"
fi

# ---------------------------------------------------------------------------------------------
# a new release: venv with the runtime install (no test/train extras), the bundled models
# ---------------------------------------------------------------------------------------------
py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
if [[ -z $PYTHON ]]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && py_ok "$(command -v "$candidate")"; then
            PYTHON=$(command -v "$candidate")
            break
        fi
    done
fi
if [[ -z $PYTHON ]] || ! py_ok "$PYTHON"; then
    die "Python >= 3.11 not found: apt-get install python3 python3-venv (Debian 12), or --python PATH"
fi
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$PYTHON cannot make a venv: apt-get install python3-venv"

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -n1)
[[ -n $VERSION ]] || die "no version in $SRC/pyproject.toml"
REL_NAME="$(date -u +%Y%m%dT%H%M%SZ)-$VERSION" # names sort by time
REL="$PREFIX/releases/$REL_NAME"
[[ ! -e $REL ]] || die "$REL exists already (two installs in one second?)"
WORK=$(mktemp -d)
cleanup() {
    rm -rf "$WORK"
    if [[ -n ${REL:-} && -d $REL && ! -e $REL/.complete ]]; then rm -rf "$REL"; fi
}
trap cleanup EXIT

PIP_OPTS=(--disable-pip-version-check --quiet)
[[ -n $WHEELHOUSE ]] && PIP_OPTS+=(--no-index --find-links "$WHEELHOUSE")

say "release $REL_NAME: creating the venv with $PYTHON ($("$PYTHON" --version 2>&1))"
mkdir -p "$REL"
"$PYTHON" -m venv "$REL/venv"
VPY="$REL/venv/bin/python"

if [[ -z $WHEEL ]]; then
    # build a wheel from a copy of the sources (the checkout gets no build/ or egg-info)
    say "building the parkguard wheel from $SRC"
    mkdir -p "$WORK/src"
    cp -r "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/LICENSE" "$WORK/src/"
    for pkg in protocol edge center common; do
        cp -r "$SRC/$pkg" "$WORK/src/$pkg"
    done
    find "$WORK/src" -name __pycache__ -type d -prune -exec rm -rf {} +
    "$VPY" -m pip wheel "${PIP_OPTS[@]}" --no-deps --wheel-dir "$WORK/wheels" "$WORK/src" >"$WORK/pip.log" 2>&1 ||
        { tail -n 20 "$WORK/pip.log" >&2; die "building the wheel failed"; }
    WHEEL=$(ls "$WORK"/wheels/parkguard-*.whl)
fi
[[ -f $WHEEL ]] || die "no such wheel: $WHEEL"
say "installing $(basename "$WHEEL") and its runtime dependencies"
"$VPY" -m pip install "${PIP_OPTS[@]}" "$WHEEL" >"$WORK/pip.log" 2>&1 ||
    { tail -n 20 "$WORK/pip.log" >&2; die "pip install failed (offline? give --wheelhouse DIR)"; }

# the models the default config names (the manifest and its ONNX files; no training scripts)
mkdir -p "$REL/models"
cp -r "$SRC/models/manifest.yaml" "$SRC/models/LICENSES" "$SRC/models/README.md" "$REL/models/"
cp "$SRC"/models/*.onnx "$SRC"/models/*.txt "$REL/models/"
cp "$SRC/configs/edge.example.yaml" "$REL/edge.example.yaml"
mkdir -p "$REL/docs"
cp "$SRC/docs/deploy.md" "$REL/docs/deploy.md"

# ---------------------------------------------------------------------------------------------
# the config (never overwritten) and the secrets file
# ---------------------------------------------------------------------------------------------
render() { # render FILE: the default paths replaced by this install's
    sed -e "s#/opt/parkguard#$PREFIX#g" -e "s#/etc/parkguard#$CONFIG_DIR#g" \
        -e "s#/var/lib/parkguard#$STATE_DIR#g" "$1"
}
CONFIG="$CONFIG_DIR/edge.yaml"
render "$SRC/configs/edge.example.yaml" >"$CONFIG_DIR/edge.yaml.example"
if [[ ! -e $CONFIG ]]; then
    install -m 0640 "$CONFIG_DIR/edge.yaml.example" "$CONFIG"
    say "wrote $CONFIG from the example: set site, node, the broker and the cameras"
    if [[ $START -eq 1 ]]; then
        say "not starting the service on the example's placeholders: edit $CONFIG, then systemctl start ${UNIT%.service}"
        START=0
    fi
else
    say "kept $CONFIG (the new example is $CONFIG_DIR/edge.yaml.example)"
fi
if [[ ! -e $CONFIG_DIR/edge.env ]]; then
    printf '%s\n' "# Secrets of the edge node (systemd EnvironmentFile; never in edge.yaml)" \
        "#PARKGUARD_MQTT_PASSWORD=" "#PARKGUARD_EDGE_TOKEN=" >"$CONFIG_DIR/edge.env"
    chmod 0640 "$CONFIG_DIR/edge.env"
fi
if [[ $MAKE_USER -eq 1 ]]; then
    chown root:"$USER_NAME" "$CONFIG" "$CONFIG_DIR/edge.env" "$CONFIG_DIR/edge.yaml.example"
fi

# ---------------------------------------------------------------------------------------------
# check the config with the new release before switching to it
# ---------------------------------------------------------------------------------------------
first=0
[[ -L $PREFIX/current ]] || first=1
if [[ $first -eq 1 ]]; then
    ln -sfn "releases/$REL_NAME" "$PREFIX/current" # the config's model paths point through current
fi
say "checking $CONFIG with the new release"
set -a
# shellcheck disable=SC1091
[[ -r $CONFIG_DIR/edge.env ]] && . "$CONFIG_DIR/edge.env"
set +a
if ! as_user "$REL/venv/bin/parkguard-edge" check --config "$CONFIG"; then
    if [[ $first -eq 1 ]]; then
        rm -f "$PREFIX/current"
    fi
    die "parkguard-edge check failed on $CONFIG: fix it and run this again (nothing switched)"
fi
touch "$REL/.complete"
if [[ $first -eq 0 ]]; then
    ln -sfn "releases/$REL_NAME" "$PREFIX/current.new"
    mv -T "$PREFIX/current.new" "$PREFIX/current" # atomic switch
fi
say "current -> releases/$REL_NAME"

# old releases: keep the newest --keep (and never the current one)
releases=()
for dir in "$PREFIX"/releases/*/; do releases+=("$(basename "$dir")"); done
drop=$((${#releases[@]} - KEEP))
for ((i = 0; i < drop; i++)); do
    [[ "releases/${releases[$i]}" == "$(readlink "$PREFIX/current")" ]] && continue
    rm -rf "${PREFIX:?}/releases/${releases[$i]}"
    say "removed old release ${releases[$i]}"
done

# ---------------------------------------------------------------------------------------------
# the systemd unit
# ---------------------------------------------------------------------------------------------
mkdir -p "$UNIT_DIR"
render "$SRC/scripts/systemd/parkguard-edge.service" >"$WORK/$UNIT"
install -m 0644 "$WORK/$UNIT" "$UNIT_DIR/$UNIT"
if [[ $SYSTEMD -eq 1 ]]; then
    restart_service
else
    say "unit written to $UNIT_DIR/$UNIT (--no-systemd: not enabled nor started)"
fi
say "done: $("$PREFIX/current/venv/bin/parkguard-edge" --version)"
