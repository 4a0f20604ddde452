#!/usr/bin/env bash
# Remove a ParkGuard edge node that scripts/install-edge.sh installed. Run as root.
#
#   sudo scripts/uninstall-edge.sh            stop and remove the service and the program;
#                                             keep /etc/parkguard and /var/lib/parkguard (the outbox:
#                                             events not yet delivered, evidence) and the user
#   sudo scripts/uninstall-edge.sh --purge    remove those too, and the user parkguard
#
# Options: --root DIR, --prefix DIR, --config-dir DIR, --state-dir DIR, --unit-dir DIR,
# --no-systemd, --no-user: as for install-edge.sh.
set -euo pipefail

ROOT="" PREFIX="" CONFIG_DIR="" STATE_DIR="" UNIT_DIR=""
SYSTEMD=1 MAKE_USER=1 PURGE=0
USER_NAME=parkguard
UNIT=parkguard-edge.service

say() { printf '[uninstall-edge] %s\n' "$*" >&2; }
die() { printf '[uninstall-edge] error: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
        --prefix) PREFIX=${2:?}; shift 2 ;;
        --config-dir) CONFIG_DIR=${2:?}; shift 2 ;;
        --state-dir) STATE_DIR=${2:?}; shift 2 ;;
        --unit-dir) UNIT_DIR=${2:?}; shift 2 ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --no-user) MAKE_USER=0; shift ;;
        --purge) PURGE=1; shift ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
if [[ -n $ROOT ]]; then
    [[ -d $ROOT ]] || die "no such folder: $ROOT"
    ROOT=$(cd "$ROOT" && pwd)
fi
PREFIX=${PREFIX:-$ROOT/opt/parkguard}
CONFIG_DIR=${CONFIG_DIR:-$ROOT/etc/parkguard}
STATE_DIR=${STATE_DIR:-$ROOT/var/lib/parkguard}
UNIT_DIR=${UNIT_DIR:-$ROOT/etc/systemd/system}
for d in "$PREFIX" "$CONFIG_DIR" "$STATE_DIR" "$UNIT_DIR"; do
    [[ $d == /* && $d != / ]] || die "paths must be absolute and not /: $d"
done
if [[ $MAKE_USER -eq 1 || $SYSTEMD -eq 1 ]]; then
    [[ $(id -u) -eq 0 ]] || die "run as root (or with --no-user --no-systemd for a scratch install)"
fi

if [[ $SYSTEMD -eq 1 ]] && command -v systemctl >/dev/null 2>&1; then
    if systemctl list-unit-files "$UNIT" >/dev/null 2>&1; then
        systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
        say "stopped and disabled $UNIT"
    fi
fi
rm -f "$UNIT_DIR/$UNIT"
if [[ $SYSTEMD -eq 1 ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || true
fi
if [[ -d $PREFIX ]]; then
    rm -rf "${PREFIX:?}/releases" "$PREFIX/current" "$PREFIX/current.new"
    rmdir "$PREFIX" 2>/dev/null || say "left $PREFIX (it holds files the installer did not put there)"
    say "removed the program from $PREFIX"
fi

if [[ $PURGE -eq 1 ]]; then
    rm -rf "${CONFIG_DIR:?}" "${STATE_DIR:?}"
    say "purged $CONFIG_DIR and $STATE_DIR (config, outbox, evidence)"
    if [[ $MAKE_USER -eq 1 ]] && id -u "$USER_NAME" >/dev/null 2>&1; then
        userdel "$USER_NAME" && say "removed user $USER_NAME"
    fi
else
    say "kept $CONFIG_DIR (config, secrets) and $STATE_DIR (outbox, evidence); --purge removes them"
fi
