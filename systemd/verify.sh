#!/usr/bin/env bash
# Checks systemd/corerecon.service offline, the way it will be installed:
#   systemd/verify.sh [BINARY]      (default: ${CARGO_TARGET_DIR:-target}/release/corerecon)
# `systemd-analyze verify` wants ExecStart= to exist and every unit it pulls in
# (sysinit.target, network-online.target, ...) to load, so it runs with --root on a scratch
# tree holding the host's unit directory, the unit, and the binary at /usr/bin/corerecon.
# That works without a running systemd (containers, CI). Fails on any warning about the unit
# (verify itself exits 0 on unknown keys or bad values) and when the offline
# `systemd-analyze security` exposure is over $THRESHOLD tenths (default 25 = 2.5; 100 = unconfined).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/corerecon.service"
bin="${1:-${CARGO_TARGET_DIR:-$here/../target}/release/corerecon}"
threshold="${THRESHOLD:-25}"

command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed (apt-get install systemd)" >&2; exit 77; }
[ -x "$bin" ] || { echo "no executable at $bin (build it or pass its path)" >&2; exit 2; }
units=/lib/systemd/system
[ -d "$units" ] || units=/usr/lib/systemd/system

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/lib/systemd"
cp -a "$units" "$root/lib/systemd/system"
rm -f "$root/lib/systemd/system/corerecon.service"
install -m 0644 "$unit" "$root/lib/systemd/system/corerecon.service"
install -m 0755 "$bin" "$root/usr/bin/corerecon"

out="$(systemd-analyze verify --man=no --root="$root" corerecon.service 2>&1)" || {
  echo "$out" >&2; echo "FAIL: systemd-analyze verify" >&2; exit 1; }
if printf '%s\n' "$out" | grep -q corerecon; then
  echo "$out" >&2; echo "FAIL: systemd-analyze verify warned about the unit" >&2; exit 1
fi
echo "ok: systemd-analyze verify corerecon.service"

sec="$(systemd-analyze security --offline=yes --root="$root" --threshold="$threshold" corerecon.service 2>&1)" || {
  echo "$sec" >&2; echo "FAIL: exposure over the threshold ($threshold tenths)" >&2; exit 1; }
echo "ok: $(printf '%s\n' "$sec" | grep -a 'Overall exposure' | sed 's/^→ //')"
