#!/usr/bin/env bash
# Builds release binaries for x86_64, aarch64 (Raspberry Pi 3/4/5, 64-bit OS)
# and armv7 (Raspberry Pi 2/3/4 on 32-bit Raspberry Pi OS), the man page and
# shell completions, and a .deb per architecture when cargo-deb is installed.
# Everything lands in dist/.
#
#   tools/release.sh                 # all targets
#   tools/release.sh aarch64 armv7   # some targets (x86_64, aarch64, armv7)
#
# Needs, on Debian 12:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
#                   gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
#   rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
#   cargo install cargo-deb          # optional: the .deb packages
# The cross linkers are set in .cargo/config.toml.
#
# glibc floor: the binaries link against the glibc of the machine that builds
# them. Built on Debian 12 they need GLIBC_2.34 (checked below with objdump):
# they run on Raspberry Pi OS Bookworm (glibc 2.36) and later, not on Bullseye
# (2.31). Build on the oldest system you must support to lower the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=(
  [x86_64]=x86_64-unknown-linux-gnu
  [aarch64]=aarch64-unknown-linux-gnu
  [armv7]=armv7-unknown-linux-gnueabihf
)
# Debian cross toolchain prefix per target.
declare -A PREFIX=(
  [aarch64]=aarch64-linux-gnu
  [armv7]=arm-linux-gnueabihf
)
declare -A APT=(
  [aarch64]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
  [armv7]="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
)

if [ $# -eq 0 ]; then
  set -- x86_64 aarch64 armv7
fi
for t in "$@"; do
  [ -n "${TRIPLE[$t]:-}" ] || { echo "unknown target '$t' (x86_64, aarch64, armv7)" >&2; exit 2; }
done

die() { echo "release.sh: $*" >&2; exit 1; }

# Check every prerequisite before the first (long) build.
have_deb=false
if cargo deb --version >/dev/null 2>&1; then
  have_deb=true
  [ -f config.example.toml ] || die "config.example.toml is missing; the .deb installs it as /etc/smsgate/smsgate.toml"
else
  echo "note: cargo-deb not installed (cargo install cargo-deb): binaries only" >&2
fi
for t in "$@"; do
  [ "$t" = x86_64 ] && continue
  triple=${TRIPLE[$t]}
  command -v "${PREFIX[$t]}-gcc" >/dev/null ||
    die "missing ${PREFIX[$t]}-gcc: apt-get install ${APT[$t]}"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
    die "missing Rust target: rustup target add $triple"
  fi
done

# The host build first: it writes the man page and completions for every package.
cargo build --release --locked
mkdir -p target/assets dist
./target/release/smsgate manpage > target/assets/smsgate.1
./target/release/smsgate completions bash > target/assets/smsgate.bash
./target/release/smsgate completions zsh > target/assets/_smsgate

for t in "$@"; do
  triple=${TRIPLE[$t]}
  if [ "$t" = x86_64 ]; then
    bin=target/release/smsgate
    strip_tool=strip
  else
    prefix=${PREFIX[$t]}
    # The cc crate (bundled SQLite) uses CC_<triple>; the linker comes from
    # .cargo/config.toml.
    export "CC_${triple//-/_}=${prefix}-gcc"
    export "AR_${triple//-/_}=${prefix}-ar"
    cargo build --release --locked --target "$triple"
    bin=target/$triple/release/smsgate
    strip_tool=${prefix}-strip
  fi
  "$strip_tool" "$bin"
  cp "$bin" "dist/smsgate-$t"
  floor=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
  echo "built dist/smsgate-$t: $(du -h "$bin" | cut -f1), $(file -b "$bin" | cut -d, -f1-2), needs $floor"
  if $have_deb; then
    # Already stripped with the right binutils; cargo-deb's own strip would
    # use the host's.
    if [ "$t" = x86_64 ]; then
      cargo deb --no-build --no-strip --output dist/
    else
      cargo deb --no-build --no-strip --target "$triple" --output dist/
    fi
  fi
done
ls -l dist/
