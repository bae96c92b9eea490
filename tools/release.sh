#!/usr/bin/env bash
# Builds release binaries for x86_64, aarch64 (Raspberry Pi 3/4/5, 64-bit OS)
# and armv7 (32-bit Raspberry Pi OS), the man page and completions, and a
# .deb per architecture when cargo-deb is installed.
#
#   tools/release.sh            # all targets
#   tools/release.sh aarch64    # one target (x86_64, aarch64, armv7)
#
# Needs (Debian): gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#                 gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
# and `rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf`.
# Binaries link against Debian 12's glibc (2.36 headers, needing GLIBC_2.34):
# they run on Raspberry Pi OS Bookworm and later, not on Bullseye.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=(
  [x86_64]=x86_64-unknown-linux-gnu
  [aarch64]=aarch64-unknown-linux-gnu
  [armv7]=armv7-unknown-linux-gnueabihf
)
declare -A CC_FOR=(
  [aarch64]=aarch64-linux-gnu-gcc
  [armv7]=arm-linux-gnueabihf-gcc
)
targets=("${@:-x86_64 aarch64 armv7}")
# shellcheck disable=SC2206
targets=(${targets[*]})

cargo build --release
mkdir -p target/assets dist
./target/release/smsgate manpage > target/assets/smsgate.1
./target/release/smsgate completions bash > target/assets/smsgate.bash
./target/release/smsgate completions zsh > target/assets/_smsgate

for t in "${targets[@]}"; do
  triple=${TRIPLE[$t]:?unknown target $t}
  if [ "$t" != x86_64 ]; then
    cc=${CC_FOR[$t]}
    command -v "$cc" >/dev/null || { echo "missing $cc (apt-get install gcc-${cc%-gcc})" >&2; exit 1; }
    export "CC_${triple//-/_}=$cc"
    cargo build --release --target "$triple"
    bin=target/$triple/release/smsgate
  else
    bin=target/release/smsgate
  fi
  cp "$bin" "dist/smsgate-$t"
  echo "built dist/smsgate-$t ($(du -h "$bin" | cut -f1))"
  if command -v cargo-deb >/dev/null; then
    if [ "$t" = x86_64 ]; then
      cargo deb --no-build --output dist/
    else
      cargo deb --no-build --no-strip --target "$triple" --output dist/
    fi
  fi
done
