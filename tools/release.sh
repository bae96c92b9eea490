#!/usr/bin/env bash
# Builds static binaries for x86_64, aarch64 (Raspberry Pi 3/4/5 on a 64-bit
# OS) and armv7 (Raspberry Pi 2/3/4 on 32-bit Raspberry Pi OS, however old),
# all against musl, the man page and shell completions, and a .deb per
# architecture when cargo-deb is installed. Everything lands in dist/.
# Static binaries need no shared library of any version: they run on any
# Linux distribution of their architecture.
#
#   tools/release.sh                 # all targets
#   tools/release.sh aarch64 armv7   # some targets (x86_64, aarch64, armv7)
#   tools/release.sh --install       # install what is missing, then build all
#   SMSGATE_PROFILE=dev tools/release.sh aarch64
#                                    # the same static binary, unoptimised:
#                                    # minutes instead of a quarter hour; its
#                                    # .deb is versioned 0.1.0-1~dev so it
#                                    # never passes for the release one.
#                                    # CI builds x86_64 so (.ci/run).
#   SMSGATE_DEB=0 tools/release.sh   # binaries only, even with cargo-deb
#
# How each is built (the --install flag installs all of it):
#   x86_64   x86_64-unknown-linux-musl with Debian's musl-gcc (musl-tools)
#            compiling the bundled SQLite; zig when musl-gcc is missing.
#   aarch64  aarch64-unknown-linux-musl through cargo-zigbuild: zig is the C
#            compiler and linker (cargo-zigbuild and ziglang from PyPI, in
#            the venv target/pyenv).
#   armv7    armv7-unknown-linux-musleabihf through cargo-zigbuild. When
#            rustup has no prebuilt standard library for it (its rust-std
#            download answers 404 for our toolchain), the standard library
#            is compiled from the rust-src component (cargo -Zbuild-std,
#            allowed on stable by RUSTC_BOOTSTRAP=1, with LLVM's libunwind
#            from rust-src) and zig supplies musl's start files and libc.
#   .deb     cargo-deb (cargo install cargo-deb), from the static binaries.
# Each binary is refused unless `file` calls it static, and is run
# (`smsgate --version`) natively or under qemu-user-static when either can.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TRIPLE=(
  [x86_64]=x86_64-unknown-linux-musl
  [aarch64]=aarch64-unknown-linux-musl
  [armv7]=armv7-unknown-linux-musleabihf
)
declare -A DEBARCH=([x86_64]=amd64 [aarch64]=arm64 [armv7]=armhf)
declare -A UNAME=([x86_64]=x86_64 [aarch64]=aarch64 [armv7]=armv7l)
declare -A QEMU=([x86_64]=qemu-x86_64-static [aarch64]=qemu-aarch64-static [armv7]=qemu-arm-static)

die() { echo "release.sh: $*" >&2; exit 1; }

install=false
if [ "${1:-}" = --install ]; then install=true; shift; fi
if [ $# -eq 0 ]; then set -- x86_64 aarch64 armv7; fi
for t in "$@"; do
  [ -n "${TRIPLE[$t]:-}" ] || { echo "unknown target '$t' (x86_64, aarch64, armv7)" >&2; exit 2; }
done

venv=target/pyenv
installed() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }
rust_src() { [ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]; }

if $install; then
  for t in "$@"; do
    if ! rustup target add "${TRIPLE[$t]}"; then
      [ "$t" = armv7 ] || die "rustup target add ${TRIPLE[$t]} failed"
      echo "note: no rust-std for ${TRIPLE[$t]}: its standard library is built from rust-src" >&2
      rustup component add rust-src
    fi
  done
  apt-get install -y -qq --no-install-recommends musl-tools file || true
  # Optional: runs the arm binaries' --version check on a PC.
  apt-get install -y -qq --no-install-recommends qemu-user-static || true
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

# Which way for each target.
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
      $have_zig || die "armv7 needs zig: tools/release.sh --install (cargo-zigbuild and ziglang from PyPI)"
      if installed "${TRIPLE[$t]}"; then HOW[$t]=zig
      elif rust_src; then HOW[$t]=zig-build-std
      else die "armv7 needs rustup target add ${TRIPLE[$t]} or, where that 404s, rustup component add rust-src (or --install)"; fi ;;
  esac
  if [ "${HOW[$t]}" != zig-build-std ] && command -v rustup >/dev/null && ! installed "${TRIPLE[$t]}"; then
    die "missing Rust target: rustup target add ${TRIPLE[$t]} (or tools/release.sh --install)"
  fi
done

# Check every prerequisite before the first (long) build.
have_deb=false
if [ "${SMSGATE_DEB:-1}" = 0 ]; then
  :
elif cargo deb --version >/dev/null 2>&1; then
  have_deb=true
  [ -f config.example.toml ] || die "config.example.toml is missing; the .deb installs it as /etc/smsgate/smsgate.toml"
else
  echo "note: cargo-deb not installed (cargo install cargo-deb): binaries only" >&2
fi

# The cargo profile: release for what is published; dev (or another) for a
# quicker build of the same static binary and package.
profile=${SMSGATE_PROFILE:-release}
case $profile in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
debver=$version-1
[ "$profile" = release ] || debver="$debver~$profile"

build() { # target
  local triple=${TRIPLE[$1]}
  export CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_DEV_STRIP=symbols
  case ${HOW[$1]} in
    musl-gcc)
      CC_x86_64_unknown_linux_musl=musl-gcc cargo build --profile "$profile" --locked --target "$triple" ;;
    zig)
      cargo zigbuild --profile "$profile" --locked --target "$triple" ;;
    zig-build-std)
      # link-self-contained=no: rustc has no musl start files for this
      # target (they come with rust-std); zig links its own crt1.o and libc.
      RUSTC_BOOTSTRAP=1 \
      CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C link-self-contained=no" \
        cargo zigbuild --profile "$profile" --locked --target "$triple" \
          -Zbuild-std=std,panic_abort -Zbuild-std-features=llvm-libunwind ;;
  esac
}

# Runs the target's binary on this machine: natively, under qemu-user, or
# not at all (status 127).
run_here() { # target binary args...
  local t=$1; shift
  if [ "$(uname -m)" = "${UNAME[$t]}" ]; then "$@"
  elif command -v "${QEMU[$t]}" >/dev/null; then "${QEMU[$t]}" "$@"
  else return 127; fi
}

tdir=${CARGO_TARGET_DIR:-target}
mkdir -p target/assets dist
for t in "$@"; do
  triple=${TRIPLE[$t]}
  started=$(date +%s)
  build "$t"
  secs=$(( $(date +%s) - started ))
  bin=$tdir/$triple/$profile_dir/smsgate
  # Static: no interpreter, no shared libraries.
  desc=$(file -b "$bin")
  case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$bin is not static: $desc" ;;
  esac
  cp "$bin" "dist/smsgate-$t"
  ran="not run (no ${QEMU[$t]})"
  if v=$(run_here "$t" "$bin" --version 2>&1); then
    ran="runs: $v"
    if [ ! -f target/assets/smsgate.1 ]; then
      # A binary this machine runs writes the man page and completions.
      run_here "$t" "$bin" manpage > target/assets/smsgate.1
      run_here "$t" "$bin" completions bash > target/assets/smsgate.bash
      run_here "$t" "$bin" completions zsh > target/assets/_smsgate
    fi
  elif [ $? -ne 127 ]; then
    die "$bin --version failed: $v"
  fi
  echo "built dist/smsgate-$t ($triple, ${HOW[$t]}, $profile) in $secs s: $(du -h "$bin" | cut -f1), $(echo "$desc" | cut -d, -f1-2); $ran"
done
if $have_deb; then
  [ -f target/assets/smsgate.1 ] \
    || die "no binary ran here to write the man page: build x86_64 too, or install qemu-user-static"
  for t in "$@"; do
    # cargo-deb reads target/<triple>/<profile dir>/smsgate for --target
    # and --profile; the binary is already stripped (CARGO_PROFILE_*_STRIP)
    # and static, so no dependencies.
    cargo deb --no-build --no-strip --profile "$profile" --target "${TRIPLE[$t]}" \
      --deb-version "$debver" --output "dist/smsgate_${debver}_${DEBARCH[$t]}.deb"
  done
fi
ls -l dist/
