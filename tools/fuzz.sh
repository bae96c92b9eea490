#!/usr/bin/env bash
# Runs every cargo-fuzz target for a set time, at most PARALLEL at once, and
# prints each run's last status line (executions, coverage, corpus size).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 600 (10 minutes per target). TARGETs default to all five.
# Environment: PARALLEL (default 2), NICE (default 10), FUZZ_TARGET_DIR (default
# ../target/fuzz, i.e. inside the crate's own target/, so no second target tree
# is made), LOGDIR (default FUZZ_TARGET_DIR/fuzz-logs). Needs cargo-fuzz
# (`cargo install cargo-fuzz`) and a nightly compiler: `cargo +nightly` when a
# nightly toolchain is installed; otherwise the stable toolchain with
# RUSTC_BOOTSTRAP=1 (which lets stable rustc and cargo take the -Z sanitizer
# flags cargo-fuzz passes), for machines that cannot fetch a nightly.
# FUZZ_TOOLCHAIN=nightly|bootstrap forces one.
# A crash leaves its input in fuzz/artifacts/TARGET/ and makes the script exit 1;
# replay one with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…`.
set -eu

cd "$(dirname "$0")/../fuzz"
SECS=${1:-600}
[ $# -gt 0 ] && shift
TARGETS=${*:-pdu_decode at_stream spool_file control_request smpp_session}
PARALLEL=${PARALLEL:-2}
NICE=${NICE:-10}
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-../target/fuzz}
LOGDIR=${LOGDIR:-$FUZZ_TARGET_DIR/fuzz-logs}
mkdir -p "$LOGDIR"

if [ -z "${FUZZ_TOOLCHAIN:-}" ]; then
    if cargo +nightly --version >/dev/null 2>&1; then
        FUZZ_TOOLCHAIN=nightly
    else
        FUZZ_TOOLCHAIN=bootstrap
    fi
fi
if [ "$FUZZ_TOOLCHAIN" = nightly ]; then
    FUZZ="cargo +nightly fuzz"
else
    FUZZ="env RUSTC_BOOTSTRAP=1 cargo fuzz"
fi
echo "toolchain: $FUZZ_TOOLCHAIN; target dir: $FUZZ_TARGET_DIR"

# One target per build (cargo fuzz build takes one); the first builds the
# dependencies, the others only their own binary.
for t in $TARGETS; do
    # shellcheck disable=SC2086
    nice -n "$NICE" $FUZZ build -O --target-dir "$FUZZ_TARGET_DIR" "$t"
done

run_one() {
    t=$1
    mkdir -p "corpus/$t"
    # -max_total_time bounds the run; -rss_limit_mb keeps a leak from taking
    # the machine; -print_final_stats gives the execution count.
    # shellcheck disable=SC2086
    nice -n "$NICE" $FUZZ run -O --target-dir "$FUZZ_TARGET_DIR" "$t" "corpus/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$LOGDIR/$t.log" 2>&1
}

status=0
running=0
pids=""
for t in $TARGETS; do
    run_one "$t" &
    pids="$pids $!:$t"
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n 2>/dev/null || true
        running=$((running - 1))
    fi
done
wait || true

for t in $TARGETS; do
    log="$LOGDIR/$t.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    if grep -q -E 'SUMMARY: libFuzzer|panicked at|deadly signal' "$log"; then
        echo "$t: CRASH (see $log and artifacts/$t/)"
        status=1
    else
        echo "$t: ok, $execs executions; $last"
    fi
done
exit $status
