#!/bin/sh
# What `make demo` shows: a namespace's clocks next to the host's.
set -e
export TIMENS_RUNDIR="${TIMENS_RUNDIR:-/run/timens-demo}"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "== 1. A process tree at another time: 400 days of uptime, in 2038 =="
step cat /proc/uptime
step timens run --boottime =400d --monotonic +1d -- cat /proc/uptime
step timens run --boottime =400d -- uptime -p
step date -u
step timens run --realtime @2038-01-19T03:14:07Z -- date -u
step timens run --realtime -400d -- python3 -c 'import datetime; print(datetime.datetime.now())'
echo "(a static binary reads it too: timens patches its vDSO at exec)"
step timens run --realtime @2038-01-19T03:14:07Z -- busybox date -u

echo
echo "== 2. A named namespace, changed live, inspected, removed =="
timens delete demo 2>/dev/null || true
step timens create demo --boottime +365d --realtime +10y
step timens exec demo -- date -u
step timens set demo --realtime @2030-01-01T00:00:00Z
step timens exec demo -- date -u
step timens set demo --freeze
step timens exec demo -- sh -c 'date -u +%T.%N; sleep 1; date -u +%T.%N'
step timens set demo --advance 1h
step timens exec demo -- date -u
step timens set demo --unfreeze
step timens show demo
step timens list

echo
echo "== 3. Checkpoint/restore: clocks go on from where they stopped =="
snap=$(mktemp /tmp/timens-demo.XXXXXX.json)
step timens save demo -o "$snap"
step sleep 2
step timens restore "$snap" --name demo2
echo "(demo2's MONOTONIC and BOOTTIME go on from the saved readings: the 2 s it was down do not count)"
step timens show demo2
step timens restore "$snap" --oci
timens delete demo demo2
rm -f "$snap"
rmdir "$TIMENS_RUNDIR"/* "$TIMENS_RUNDIR" 2>/dev/null || true
echo
echo "The host was never touched:"
step date -u
