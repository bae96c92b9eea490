#!/usr/bin/env bash
# Builds static (musl) release binaries for x86_64, aarch64 (Raspberry Pi
# 3/4/5 on a 64-bit OS) and armv7 (Raspberry Pi 2/3/4 on 32-bit Raspberry Pi
# OS, however old), the man page and shell completions, and a .deb per
# architecture when cargo-deb is installed. Everything lands in dist/.
# Static binaries need no glibc of any version: they run on any Linux
# distribution of their architecture.
#
#   tools/release.sh                 # all targets
#   tools/release.sh aarch64 armv7   # some targets (x86_64, aarch64, armv7)
#   tools/release.sh --install       # install what is missing, then build all
#
# Needs (the --install flag does this):
#   rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl \
#                     armv7-unknown-linux-musleabihf
#   pip install ziglang              # zig: the C compiler and linker for the
#   cargo install --locked cargo-zigbuild   # bundled SQLite on every target
#   cargo install --locked cargo-deb # optional: the .deb packages
# Without zig, x86_64 alone builds with Debian's musl-tools (musl-gcc).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=(
  [x86_64]=x86_64-unknown-linux-musl
  [aarch64]=aarch64-unknown-linux-musl
  [armv7]=armv7-unknown-linux-musleabihf
)
declare -A DEBARCH=([x86_64]=amd64 [aarch64]=arm64 [armv7]=armhf)

die() { echo "release.sh: $*" >&2; exit 1; }

install=false
if [ "${1:-}" = --install ]; then install=true; shift; fi
if [ $# -eq 0 ]; then set -- x86_64 aarch64 armv7; fi
for t in "$@"; do
  [ -n "${TRIPLE[$t]:-}" ] || { echo "unknown target '$t' (x86_64, aarch64, armv7)" >&2; exit 2; }
done

if $install; then
  for t in "$@"; do rustup target add "${TRIPLE[$t]}"; done
  python3 -m pip install --quiet ziglang || python3 -m pip install --quiet --break-system-packages ziglang
  cargo install --locked cargo-zigbuild
  cargo install --locked cargo-deb || echo "note: cargo-deb did not install: binaries only" >&2
fi

# zig from PyPI installs as a Python module; cargo-zigbuild finds it through
# `python3 -m ziglang` when no `zig` is on PATH.
have_zig=false
if cargo zigbuild --help >/dev/null 2>&1 && { command -v zig >/dev/null || python3 -c 'import ziglang' 2>/dev/null; }; then
  have_zig=true
fi

# Check every prerequisite before the first (long) build.
have_deb=false
if cargo deb --version >/dev/null 2>&1; then
  have_deb=true
  [ -f config.example.toml ] || die "config.example.toml is missing; the .deb installs it as /etc/smsgate/smsgate.toml"
else
  echo "note: cargo-deb not installed (cargo install cargo-deb): binaries only" >&2
fi
for t in "$@"; do
  triple=${TRIPLE[$t]}
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
    die "missing Rust target: rustup target add $triple (or tools/release.sh --install)"
  fi
  if ! $have_zig; then
    [ "$t" = x86_64 ] || die "$t needs zig: pip install ziglang; cargo install cargo-zigbuild (or --install)"
    command -v musl-gcc >/dev/null || die "x86_64 needs zig or musl-gcc: apt-get install musl-tools"
  fi
done

build() { # triple
  if $have_zig; then
    CARGO_PROFILE_RELEASE_STRIP=symbols cargo zigbuild --release --locked --target "$1"
  else
    CARGO_PROFILE_RELEASE_STRIP=symbols CC_x86_64_unknown_linux_musl=musl-gcc \
      cargo build --release --locked --target "$1"
  fi
}

mkdir -p target/assets dist
for t in "$@"; do
  triple=${TRIPLE[$t]}
  build "$triple"
  bin=target/$triple/release/smsgate
  # Static: no interpreter, no shared libraries.
  desc=$(file -b "$bin")
  case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$bin is not static: $desc" ;;
  esac
  cp "$bin" "dist/smsgate-$t"
  if [ ! -f target/assets/smsgate.1 ] && "$bin" --version >/dev/null 2>&1; then
    # A binary this machine runs writes the man page and completions.
    "$bin" manpage > target/assets/smsgate.1
    "$bin" completions bash > target/assets/smsgate.bash
    "$bin" completions zsh > target/assets/_smsgate
  fi
  echo "built dist/smsgate-$t: $(du -h "$bin" | cut -f1), $(echo "$desc" | cut -d, -f1-2)"
done
[ -f target/assets/smsgate.1 ] || die "no binary of this machine's architecture ran: build x86_64 too for the man page"
if $have_deb; then
  for t in "$@"; do
    # cargo-deb reads target/<triple>/release for --target; the binary is
    # already stripped (CARGO_PROFILE_RELEASE_STRIP) and static, so no dependencies.
    cargo deb --no-build --target "${TRIPLE[$t]}" --output "dist/smsgate_${DEBARCH[$t]}.deb"
  done
fi
ls -l dist/
