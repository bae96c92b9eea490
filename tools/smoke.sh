#!/usr/bin/env bash
# Smoke test of a built smsgate binary, for any architecture: runs the
# daemon with no modems (a configuration in a temporary directory), waits
# for its control socket, asks `status`, creates an API token (a write to
# the SQLite store after its migrations), stops it with SIGINT and checks a
# clean exit. A foreign binary runs under qemu-user:
#
#   tools/smoke.sh dist/smsgate-x86_64
#   tools/smoke.sh dist/smsgate-armv7 qemu-arm-static
#   tools/smoke.sh dist/smsgate-aarch64 qemu-aarch64-static
#
# (`smsgate demo` does not run under Debian 12's qemu-user 7.2: it lacks the
# TCGETS2 ioctl the serial code uses on the simulated modems' ptys, so the
# demo's modems never open; a real kernel has it since Linux 2.6.20.)
set -euo pipefail
bin=$1; shift
run=("$@" "$bin")
dir=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "smoke: $*" >&2; [ ! -f "$dir/log" ] || sed 's/^/  daemon: /' "$dir/log" >&2; exit 1; }

mkdir "$dir/spool"
cat > "$dir/smsgate.toml" <<CONF
[store]
path = "$dir/smsgate.db"
[control]
socket = "$dir/smsgate.sock"
[spool]
dir = "$dir/spool"
CONF
"${run[@]}" --version
"${run[@]}" check-config -c "$dir/smsgate.toml" >/dev/null || fail "check-config failed"
"${run[@]}" run -c "$dir/smsgate.toml" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 240); do
  [ -S "$dir/smsgate.sock" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the daemon exited before it was ready"
  sleep 0.5
done
[ -S "$dir/smsgate.sock" ] || fail "no control socket after 2 minutes"
out=$("${run[@]}" status --socket "$dir/smsgate.sock") || fail "status failed"
grep -q '^queue:' <<<"$out" || fail "status printed no queue line: $out"
out=$("${run[@]}" token create smoke --socket "$dir/smsgate.sock") || fail "token create failed"
grep -q '^sgt_' <<<"$out" || fail "token create printed no token: $out"
kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || fail "exit status $status after SIGINT"
grep -q 'INFO stopped' "$dir/log" || fail "no clean stop in the log"
echo "smoke: $bin ran the daemon, status, token create (SQLite) and stopped cleanly"
