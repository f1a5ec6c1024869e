#!/usr/bin/env bash
# Runs the package's whole life (install, reinstall, upgrade of a disabled service, remove,
# purge) in a throwaway copy-on-write view of this machine, and checks what the maintainer
# scripts did. The host is not touched: everything happens in a private mount namespace on
# an overlay of / that is discarded at the end. systemd is simulated (/run/systemd/system
# and a systemctl that records its calls), so no service really starts.
#   sudo packaging/sandbox-install.sh path/to/corerecon_X_ARCH.deb
# Needs root, unshare (util-linux), overlayfs and chroot; not part of the test suite.
set -euo pipefail
deb="$(realpath "${1:?usage: $0 corerecon_X_ARCH.deb}")"
[ "$(id -u)" = 0 ] || { echo "sandbox-install: run as root" >&2; exit 2; }
work="$(mktemp -d /tmp/corerecon-sandbox.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/root"
cp "$deb" "$work/corerecon.deb"

cat > "$work/fake-systemctl" <<'FAKE'
#!/bin/sh
echo "systemctl $*" >> /var/log/fake-systemctl.log
wants=/etc/systemd/system/multi-user.target.wants/corerecon.service
case "$1" in
  enable) mkdir -p "${wants%/*}"; ln -sf /lib/systemd/system/corerecon.service "$wants" ;;
  disable) rm -f "$wants" ;;
  is-enabled) [ "$2" = --quiet ] && shift; [ -L "$wants" ] ;;
  *) exit 0 ;;
esac
FAKE

cat > "$work/lifecycle" <<'LIFE'
#!/bin/sh
set -eu
log=/var/log/fake-systemctl.log
fail() { echo "FAIL: $*" >&2; exit 1; }
calls() { cat "$log" 2>/dev/null; : > "$log"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }
mkdir -p /run/systemd/system

echo "== install"
dpkg -i /corerecon.deb
c="$(calls)"; echo "$c"
echo "$c" | grep -qx "systemctl enable corerecon.service" || fail "install did not enable"
echo "$c" | grep -qx "systemctl restart corerecon.service" || fail "install did not start"
getent passwd corerecon | grep -q ':/var/lib/corerecon:/usr/sbin/nologin$' || fail "user: $(getent passwd corerecon)"
getent group corerecon >/dev/null || fail "no corerecon group"
[ "$(owner_mode /var/lib/corerecon)" = "corerecon:corerecon 700" ] || fail "data dir $(owner_mode /var/lib/corerecon)"
[ "$(owner_mode /var/backups/corerecon)" = "corerecon:corerecon 700" ] || fail "backups dir $(owner_mode /var/backups/corerecon)"
[ "$(owner_mode /etc/corerecon/corerecon.env)" = "root:root 600" ] || fail "env file $(owner_mode /etc/corerecon/corerecon.env)"

echo "== the CLI as the service user on the packaged data dir"
runuser -u corerecon -- env CORERECON_ADMIN_PASSWORD=Sandbox-Admin-Pass-7q2 \
  corerecon backup --data-dir /var/lib/corerecon --out /var/backups/corerecon/sandbox.backup
runuser -u corerecon -- corerecon check --data-dir /var/lib/corerecon
[ -z "$(find /var/lib/corerecon /var/backups/corerecon ! -user corerecon)" ] || fail "files not owned by corerecon"
echo "# local edit" >> /etc/corerecon/corerecon.env

echo "== reinstall (upgrade path)"
dpkg -i /corerecon.deb
c="$(calls)"; echo "$c"
echo "$c" | grep -qx "systemctl enable corerecon.service" && fail "an upgrade must not re-enable"
echo "$c" | grep -qx "systemctl stop corerecon.service" || fail "upgrade did not stop"
echo "$c" | grep -qx "systemctl restart corerecon.service" || fail "upgrade did not restart"
grep -q "^# local edit" /etc/corerecon/corerecon.env || fail "conffile edit lost"

echo "== upgrade of a disabled service"
systemctl disable corerecon.service; calls >/dev/null
dpkg -i /corerecon.deb
c="$(calls)"; echo "$c"
echo "$c" | grep -qx "systemctl restart corerecon.service" && fail "a disabled service was started"
echo "$c" | grep -qx "systemctl enable corerecon.service" && fail "a disabled service was enabled"
systemctl enable corerecon.service; calls >/dev/null

echo "== remove"
dpkg -r corerecon
c="$(calls)"; echo "$c"
echo "$c" | grep -qx "systemctl stop corerecon.service" || fail "remove did not stop"
echo "$c" | grep -qx "systemctl disable corerecon.service" || fail "remove did not disable"
[ -d /var/lib/corerecon ] && [ -f /etc/corerecon/corerecon.env ] || fail "remove deleted data or settings"
getent passwd corerecon >/dev/null || fail "remove deleted the user"
[ ! -e /usr/bin/corerecon ] || fail "binary left after remove"

echo "== purge"
dpkg -P corerecon
[ ! -e /var/lib/corerecon ] || fail "purge left the data dir"
[ ! -e /etc/corerecon ] || fail "purge left /etc/corerecon"
getent passwd corerecon >/dev/null && fail "purge left the user"
getent group corerecon >/dev/null && fail "purge left the group"
[ -f /var/backups/corerecon/sandbox.backup ] || fail "purge deleted the backups"
echo "OK: install, reinstall, disabled upgrade, remove, purge"
LIFE
chmod 0755 "$work/fake-systemctl" "$work/lifecycle"

unshare --mount --propagation private /bin/sh -eu -c '
  w="$1"; r="$w/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$w/upper,workdir=$w/work" "$r"
  mount -t proc proc "$r/proc"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/run"
  mount -t tmpfs tmpfs "$r/tmp"
  cp "$w/fake-systemctl" "$r/usr/bin/systemctl"
  cp "$w/lifecycle" "$r/lifecycle"
  cp "$w/corerecon.deb" "$r/corerecon.deb"
  chroot "$r" /lifecycle
' sandbox "$work"
