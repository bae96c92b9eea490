#!/bin/bash
# The cost per part of the cluster bench's sending run (BENCHMARKS.md, "Three
# hosts on one PostgreSQL: the cost per part"). Usage:
#   BENCH=<the cluster bench executable> benches/cluster-cost.sh BIN OUT [bench args...]
# runs `BENCH --bench --sending-only` with SMSGATE_BIN=BIN and samples the
# bench's own PostgreSQL server (found through the PORT of the bench's
# watcher shell) every 0.5 s: commits (pg_stat_database), the CPU time of the
# daemons and of the server's processes. LOGMIN=1ms also logs every statement
# that took 1 ms or more (OUT.pglog). Prints the bench's row and the totals
# per part (MESSAGES: the --messages given, 1440 by default).
bin=$1; out=$2; shift 2
v=$(basename "$bin")
echo "== $v $(uptime)"
SMSGATE_BIN=$bin $BENCH --bench --sending-only "$@" > $out.bench 2>&1 &
bench=$!
port=""
while [ -z "$port" ] && [ -d /proc/$bench ]; do
  for c in $(pgrep -P $bench); do
    port=$(tr '\0' '\n' < /proc/$c/environ 2>/dev/null | sed -n 's/^PORT=//p')
    [ -n "$port" ] && break
  done
  sleep 0.2
done
pm=""
while [ -z "$pm" ] && [ -d /proc/$bench ]; do
  for p in $(pgrep -x postgres); do
    if tr '\0' ' ' < /proc/$p/cmdline | grep -q -- "-p $port "; then pm=$p; break; fi
  done
  sleep 0.2
done
echo "port $port postmaster $pm" > $out
if [ -n "$LOGMIN" ]; then
  psql -h 127.0.0.1 -p $port -U postgres -d postgres -qc "ALTER SYSTEM SET log_min_duration_statement = '$LOGMIN'" -c "SELECT pg_reload_conf()" >/dev/null
  for c in $(pgrep -P $bench); do d=$(tr '\0' '\n' < /proc/$c/environ 2>/dev/null | sed -n 's/^DIR=//p'); [ -n "$d" ] && echo "$d" > $out.dir; done
fi
ticks() { local t=0; for p in "$@"; do s=$(cut -d' ' -f14,15 /proc/$p/stat 2>/dev/null) || continue; set -- $s; t=$((t + $1 + $2)); done; echo $t; }
while [ -d /proc/$bench ]; do
  row=$(psql -h 127.0.0.1 -p $port -U postgres -d postgres -Atc "select (extract(epoch from clock_timestamp())*1000)::bigint, sum(xact_commit), sum(tup_updated), sum(tup_inserted) from pg_stat_database" 2>/dev/null) || { sleep 0.2; continue; }
  echo "$row|$(ticks $(pgrep -P $bench -x "${v:0:15}"))|$(ticks $pm $(pgrep -P $pm))" >> $out
  [ -f $out.dir ] && cp "$(cat $out.dir)/log" $out.pglog 2>/dev/null; sleep 0.5
done
[ -f $out.dir ] && cp "$(cat $out.dir)/log" $out.pglog 2>/dev/null
wait $bench
tail -1 $out.bench
awk -F'|' -v n=$v -v parts=${MESSAGES:-1440} 'NR>1{ if(!t0){t0=$1;c0=$2;d0=$5;p0=$6} t=$1;c=$2;d=$5;p=$6 } END{printf "%s: sampled %.1f s, commits %d (%.1f per part), daemons cpu %.1f s (%.1f ms per part), postgres cpu %.1f s (%.1f ms per part)\n", n,(t-t0)/1000,c-c0,(c-c0)/parts,(d-d0)/100,(d-d0)*10/parts,(p-p0)/100,(p-p0)*10/parts}' $out
