#!/usr/bin/env bash
# Builds static release binaries for x86_64, aarch64 (Raspberry Pi 3/4/5 on
# a 64-bit OS) and armv7 (Raspberry Pi 2/3/4 on 32-bit Raspberry Pi OS,
# however old), the man page and shell completions, and a .deb per
# architecture when cargo-deb is installed. Everything lands in dist/.
# Static binaries need no shared library of any version: they run on any
# Linux distribution of their architecture.
#
#   tools/release.sh                 # all targets
#   tools/release.sh aarch64 armv7   # some targets (x86_64, aarch64, armv7)
#   tools/release.sh --install       # install what is missing, then build all
#   SMSGATE_PROFILE=dev tools/release.sh x86_64
#                                    # the same static binary, unoptimised:
#                                    # what CI builds and runs (.ci/run), in
#                                    # dist/ too; no .deb from it
#
# How each is built (the --install flag installs all of it):
#   x86_64   x86_64-unknown-linux-musl with Debian's musl-gcc (musl-tools)
#            compiling the bundled SQLite; zig when musl-gcc is missing.
#   aarch64  aarch64-unknown-linux-musl through cargo-zigbuild: zig is the C
#            compiler and linker (cargo-zigbuild and ziglang from PyPI, in
#            the venv target/pyenv).
#   armv7    armv7-unknown-linux-musleabihf through cargo-zigbuild when
#            rustup has that target; otherwise (its rust-std was not
#            downloadable for our toolchain) armv7-unknown-linux-gnueabihf
#            linked statically against glibc (+crt-static) with Debian's
#            gcc-arm-linux-gnueabihf. Both run on any armv7 Linux. The glibc
#            one resolves host names with glibc's built-in files and DNS
#            lookups (what webhooks need); NSS modules such as mDNS are not
#            loaded by a static binary.
#   .deb     cargo-deb (cargo install cargo-deb), from the static binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=(
  [x86_64]=x86_64-unknown-linux-musl
  [aarch64]=aarch64-unknown-linux-musl
  [armv7]=armv7-unknown-linux-musleabihf
)
ARMV7_GNU=armv7-unknown-linux-gnueabihf
declare -A DEBARCH=([x86_64]=amd64 [aarch64]=arm64 [armv7]=armhf)

die() { echo "release.sh: $*" >&2; exit 1; }

install=false
if [ "${1:-}" = --install ]; then install=true; shift; fi
if [ $# -eq 0 ]; then set -- x86_64 aarch64 armv7; fi
for t in "$@"; do
  [ -n "${TRIPLE[$t]:-}" ] || { echo "unknown target '$t' (x86_64, aarch64, armv7)" >&2; exit 2; }
done

venv=target/pyenv
installed() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

if $install; then
  for t in "$@"; do
    if [ "$t" = armv7 ] && ! rustup target add "${TRIPLE[$t]}"; then
      echo "note: no rust-std for ${TRIPLE[$t]}: armv7 is built as static $ARMV7_GNU" >&2
      rustup target add "$ARMV7_GNU"
      apt-get install -y -qq --no-install-recommends gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    elif [ "$t" != armv7 ]; then
      rustup target add "${TRIPLE[$t]}"
    fi
  done
  apt-get install -y -qq --no-install-recommends musl-tools file || true
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check cargo-zigbuild ziglang
  cargo deb --version >/dev/null 2>&1 || cargo install --locked cargo-deb \
    || echo "note: cargo-deb did not install: binaries only" >&2
fi

# cargo-zigbuild and zig (as the ziglang Python module) live in the venv.
[ -d "$venv/bin" ] && PATH="$PWD/$venv/bin:$PATH"
have_zig=false
if command -v cargo-zigbuild >/dev/null && { command -v zig >/dev/null || python3 -c 'import ziglang' 2>/dev/null; }; then
  have_zig=true
fi

# Which triple and which way for each target.
declare -A HOW
for t in "$@"; do
  case $t in
    x86_64)
      if command -v musl-gcc >/dev/null; then HOW[$t]=musl-gcc
      elif $have_zig; then HOW[$t]=zig
      else die "x86_64 needs musl-gcc (apt-get install musl-tools) or zig (--install)"; fi ;;
    aarch64)
      $have_zig || die "aarch64 needs zig: tools/release.sh --install (cargo-zigbuild and ziglang from PyPI)"
      HOW[$t]=zig ;;
    armv7)
      if installed "${TRIPLE[$t]}" && $have_zig; then HOW[$t]=zig
      else
        TRIPLE[$t]=$ARMV7_GNU
        command -v arm-linux-gnueabihf-gcc >/dev/null \
          || die "armv7 needs gcc-arm-linux-gnueabihf and libc6-dev-armhf-cross (or --install)"
        HOW[$t]=static-glibc
      fi ;;
  esac
  if command -v rustup >/dev/null && ! installed "${TRIPLE[$t]}"; then
    die "missing Rust target: rustup target add ${TRIPLE[$t]} (or tools/release.sh --install)"
  fi
done

# Check every prerequisite before the first (long) build.
have_deb=false
if cargo deb --version >/dev/null 2>&1; then
  have_deb=true
  [ -f config.example.toml ] || die "config.example.toml is missing; the .deb installs it as /etc/smsgate/smsgate.toml"
else
  echo "note: cargo-deb not installed (cargo install cargo-deb): binaries only" >&2
fi

# The cargo profile: release for what is published; dev (or another) for a
# quicker check of the same static linking.
profile=${SMSGATE_PROFILE:-release}
case $profile in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac

build() { # target
  local triple=${TRIPLE[$1]}
  export CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_DEV_STRIP=symbols
  case ${HOW[$1]} in
    musl-gcc)
      CC_x86_64_unknown_linux_musl=musl-gcc cargo build --profile "$profile" --locked --target "$triple" ;;
    zig)
      cargo zigbuild --profile "$profile" --locked --target "$triple" ;;
    static-glibc)
      CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc \
      CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
      CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --profile "$profile" --locked --target "$triple" ;;
  esac
}

tdir=${CARGO_TARGET_DIR:-target}
mkdir -p target/assets dist
for t in "$@"; do
  triple=${TRIPLE[$t]}
  started=$(date +%s)
  build "$t"
  bin=$tdir/$triple/$profile_dir/smsgate
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
  echo "built dist/smsgate-$t ($triple, ${HOW[$t]}) in $(( $(date +%s) - started )) s: $(du -h "$bin" | cut -f1), $(echo "$desc" | cut -d, -f1-2)"
done
[ -f target/assets/smsgate.1 ] || die "no binary of this machine's architecture ran: build x86_64 too for the man page"
if $have_deb && [ "$profile" != release ]; then
  echo "note: no .deb from the $profile profile (packages are made from release builds)" >&2
elif $have_deb; then
  for t in "$@"; do
    # cargo-deb reads target/<triple>/release for --target; the binary is
    # already stripped (CARGO_PROFILE_RELEASE_STRIP) and static, so no dependencies.
    cargo deb --no-build --target "${TRIPLE[$t]}" --output "dist/smsgate_${DEBARCH[$t]}.deb"
  done
fi
ls -l dist/
