#!/usr/bin/env bash
# Builds the CoreRecon Debian package with plain dpkg-deb (no cargo-deb needed).
#   packaging/build-deb.sh [BINARY] [OUT_DIR]
#     BINARY   default ${CARGO_TARGET_DIR:-target}/release/corerecon (cargo build --release)
#     OUT_DIR  default ${CARGO_TARGET_DIR:-target}/debian
#   DEB_COMPRESS=xz|gzip|zstd|none   (default xz)
# Prints the path of the .deb on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${1:-$target/release/corerecon}"
out="${2:-$target/debian}"
compress="${DEB_COMPRESS:-xz}"

die() { echo "build-deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian: apt-get install dpkg)"
[ -x "$bin" ] || die "no executable at $bin; run: cargo build --release (or pass the binary's path)"

# Version: [workspace.package] version in Cargo.toml. A Debian version must start with a digit.
version="$(awk '
  /^\[/ { in_ws = ($0 == "[workspace.package]") }
  in_ws && /^version[[:space:]]*=/ { gsub(/.*=[[:space:]]*"|".*/, ""); print; exit }
' "$repo/Cargo.toml")"
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "no usable [workspace.package] version in Cargo.toml (got '$version')"
version="${version//-/\~}"   # 1.2.0-rc.1 -> 1.2.0~rc.1, sorts before 1.2.0 as in semver
arch="$(dpkg --print-architecture)"

# Depends: from the shared libraries the binary links, libc6 versioned by its newest GLIBC_ symbol.
if command -v objdump >/dev/null; then
  needed="$(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')"
else
  needed="$(ldd "$bin" | awk '$1 !~ /^linux-vdso/ { sub(".*/", "", $1); print $1 }')"
fi
depends=(libc6)
for lib in $needed; do
  case "$lib" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libutil.so.*) dep=libc6 ;;
    libgcc_s.so.*) dep=libgcc-s1 ;;
    *) die "the binary links $lib: map it to its Debian package in packaging/build-deb.sh" ;;
  esac
  [[ " ${depends[*]} " == *" $dep "* ]] || depends+=("$dep")
done
glibc="$(grep -aoE 'GLIBC_2\.[0-9]+(\.[0-9]+)?' "$bin" | sed 's/GLIBC_//' | sort -uV | tail -1 || true)"
deps=""
for dep in "${depends[@]}"; do
  if [ "$dep" = libc6 ] && [ -n "$glibc" ]; then dep="libc6 (>= $glibc)"; fi
  deps="${deps:+$deps, }$dep"
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/corerecon_${version}_${arch}"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/usr/share/doc/corerecon" "$root/etc/corerecon"
install -m 0755 "$bin" "$root/usr/bin/corerecon"
install -m 0644 "$repo/systemd/corerecon.service" "$root/lib/systemd/system/corerecon.service"
install -m 0600 "$here/corerecon.env" "$root/etc/corerecon/corerecon.env"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/corerecon/copyright"
install -m 0644 "$here/README.md" "$root/usr/share/doc/corerecon/README.md"
for s in postinst prerm postrm; do install -m 0755 "$here/debian/$s" "$root/DEBIAN/$s"; done
printf '/etc/corerecon/corerecon.env\n' > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

installed_kb="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: corerecon
Version: $version
Architecture: $arch
Maintainer: CoreRecon maintainers <corerecon@localhost>
Installed-Size: $installed_kb
Depends: $deps
Recommends: systemd
Section: net
Priority: optional
Description: Security Operations Center appliance in one binary
 CoreRecon ingests alerts from SIEMs (Elastic Security, Microsoft Sentinel,
 Splunk), syslog and the Splunk HTTP Event Collector protocol, normalises,
 enriches and deduplicates them, and lets a managed security provider's
 analysts triage alerts and run incidents against SLAs, per client tenant,
 live in the browser. No database server is needed: the store is embedded.
 .
 This package installs the binary, a hardened systemd unit (corerecon.service,
 running as the corerecon system user, data in /var/lib/corerecon) and its
 settings file /etc/corerecon/corerecon.env.
CONTROL
chmod 0644 "$root/DEBIAN/control"

mkdir -p "$out"
deb="$out/corerecon_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compress" --build "$root" "$deb" >/dev/null
echo "$deb"
