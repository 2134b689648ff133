#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: builds the benchmark children and baseline drivers, then runs
# hooksbench, which compares hooksupd with its baselines side by side in
# one interleaved run and prints one Markdown table (also written to
# test/bench/out/results.md and results.json).
#
#   bash test/bench/run.sh               full run (< 10 minutes on 2 CPUs)
#   BENCH_QUICK=1 bash test/bench/run.sh quick subset (< 60 s), for CI
#   BENCH_ROWS=1,4 bash test/bench/run.sh only some rows
#
# Exit status: 0 when every row ran and no operation failed (targets that
# are not met do not change it), 1 when a row could not run, 3 when some
# fires failed (the notes under the table say which and why).
#
# Needs Linux, root (cgroups), Go and gcc (the C child and drivers are the
# baselines). The full run installs cgroup-tools, bubblewrap and firejail
# with apt-get when they are missing, for row 9; a tool that cannot be
# installed is left out of the table with a note.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PATH=/usr/local/go/bin:$PATH
OUT=test/bench/out
BIN=$OUT/bin
QUICK=${BENCH_QUICK:-0}
SECONDS=0

if [ "$(uname -s)" != Linux ]; then
	echo "bench: Linux only (the supervisor's fast paths are Linux mechanisms)" >&2
	exit 1
fi
if ! command -v gcc >/dev/null; then
	echo "bench: gcc is needed for the C child and the C baseline drivers (apt-get install gcc libc6-dev)" >&2
	exit 1
fi

mkdir -p "$BIN"
echo "bench: building children, drivers and binaries into $BIN" >&2
CFLAGS="-O2 -Wall -Wextra"
for c in allow daemon forker; do
	gcc $CFLAGS -static -o "$BIN/c-$c" "test/bench/c/$c.c"
done
gcc $CFLAGS -pthread -o "$BIN/c-execdrv" test/bench/c/execdrv.c
gcc $CFLAGS -pthread -o "$BIN/c-daemondrv" test/bench/c/daemondrv.c
gcc $CFLAGS -o "$BIN/c-relay" test/bench/c/relay.c
install -m 0755 test/bench/c/allow.sh "$BIN/sh-allow"
CGO_ENABLED=0 go build -o "$BIN/go-child" ./test/bench/gochild
ln -sf go-child "$BIN/go-daemon"
go build -o "$BIN/hooksbench" ./test/bench/hooksbench
# Rows 5 and 9 run the real binary, built as `make build` builds it.
rm -f "$BIN/hooksupd"
if ! go build -o "$BIN/hooksupd" ./cmd/hooksupd; then
	echo "bench: cmd/hooksupd does not build: rows 5 and 9 will be skipped" >&2
fi

if [ "$QUICK" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	missing=()
	command -v cgexec >/dev/null || missing+=(cgroup-tools)
	command -v bwrap >/dev/null || missing+=(bubblewrap)
	command -v firejail >/dev/null || missing+=(firejail)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "bench: installing ${missing[*]} for row 9" >&2
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
			apt-get update -qq >/dev/null 2>&1 || true
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
				echo "bench: could not install ${missing[*]}; row 9 leaves them out" >&2
		fi
	fi
fi

args=(-out "$OUT" -bin "$BIN")
[ "$QUICK" = 1 ] && args+=(-quick)
[ -n "${BENCH_ROWS:-}" ] && args+=(-rows "$BENCH_ROWS")
rc=0
"$BIN/hooksbench" "${args[@]}" || rc=$?
echo "bench: took ${SECONDS} s in all, builds included (BENCH_QUICK=$QUICK); results in $OUT/" >&2
exit $rc
