#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run.sh: the arm64 checks (make test-arm64). It cross-builds everything for
# linux/arm64, rebuilds the arm64 launcher and compares it with the
# committed blob, runs that blob through its protocol under qemu-aarch64,
# and runs the supervisor tests that user-mode emulation can carry.
#
# qemu-user translates an arm64 process's syscalls on this host's kernel,
# so the arm64 Go code (cgroup files, tree kill, limits, the portable
# backend) is exercised against real cgroups. It cannot emulate clone with
# CLONE_PIDFD or clone3 (it answers EINVAL), and the host kernel cannot
# exec the arm64 launcher from a memfd without binfmt_misc, so the Linux
# backend's spawn path and the pidfd watcher are left to an arm64 machine
# (or qemu-system-aarch64); the tests below are the ones that need neither.
#
# Needs: go, qemu-aarch64 (apt: qemu-user) and aarch64-linux-gnu-gcc (apt:
# gcc-aarch64-linux-gnu). Root for the cgroup tests, as on amd64.
set -eu
cd "$(dirname "$0")/../.."
GO=${GO:-go}
out=bin/arm64
mkdir -p "$out"
for t in qemu-aarch64 aarch64-linux-gnu-gcc; do
	command -v "$t" >/dev/null || { echo "test-arm64: $t not found (apt: qemu-user gcc-aarch64-linux-gnu)" >&2; exit 1; }
done

echo "== cross-build linux/arm64"
GOOS=linux GOARCH=arm64 $GO build -o /dev/null ./...
GOOS=linux GOARCH=arm64 $GO vet ./supervisor/... ./cmd/...

echo "== arm64 launcher: rebuild matches the blob, protocol under qemu-aarch64"
CI=${CI:-} $GO test -count=1 -run 'TestArm64' -v ./supervisor/internal/launcher | grep -E '^(--- |ok|FAIL)'

# run PKG REGEXP: build PKG's tests for arm64 and run those matching REGEXP
# under qemu-aarch64, from the package directory as go test would.
run() {
	bin=$PWD/$out/$(echo "$1" | tr / _).test
	GOOS=linux GOARCH=arm64 $GO test -c -o "$bin" "./$1"
	echo "== qemu-aarch64 $1 ($2)"
	(cd "$1" && qemu-aarch64 "$bin" -test.count=1 -test.short -test.timeout=10m -test.v -test.run "$2") >"$bin.log" 2>&1 || {
		cat "$bin.log"
		echo "test-arm64: $1 failed" >&2
		exit 1
	}
	grep -E '^(--- |ok|PASS|FAIL)' "$bin.log"
	if ! grep -q '^--- PASS' "$bin.log"; then
		echo "test-arm64: $1 ran no test" >&2
		exit 1
	fi
}

run supervisor/cgroup '^(TestDetectMode|TestValidName|TestBuildLayout|TestKeyValue|TestLimitsWritten|TestOpenCreatesSubtreeAndCloseRemovesIt|TestNewGroupValidatesName|TestKillTreeAndWaitEmpty|TestDeleteKillsWhatIsLeft|TestCanEnforceNamesWhatIsMissing|TestPidsLimitCapsForks)$'
run supervisor/pidfd '^(TestProbe|TestCloseTwice)$'
run supervisor '^(TestPortable.*|ExampleNewPortable)$'
echo "test-arm64: OK"
