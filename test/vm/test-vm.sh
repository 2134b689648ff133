#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-vm.sh — run Go test packages inside a throw-away VM whose kernel
# shows a pure cgroup v2 hierarchy (cpu, memory and pids enabled), the way
# production hosts do. QEMU boots a stock Debian kernel with a busybox
# initramfs that holds the static test binaries; one boot runs every package.
# See test/vm/README.md.
#
# Usage: test/vm/test-vm.sh [PKG...] [-- TESTFLAG...]
#
# Exit status: the guest's (0 all passed, 1 a package failed or did not
# build), 125 when the VM gave no verdict (timeout, kernel panic, missing
# tools), 2 for usage errors.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo
readonly default_pkgs=(./supervisor/... ./executor/... ./test/...)

cache=${VMTEST_CACHE:-${HOME:-/tmp}/.cache/hooksupd-vm}
kmeta=${VMTEST_KMETA:-linux-image-amd64}
mem=${VMTEST_MEM:-2048}
smp=${VMTEST_SMP:-2}
vm_timeout=${VMTEST_TIMEOUT:-1500}
test_timeout=${VMTEST_TEST_TIMEOUT:-10m}
accel=${VMTEST_ACCEL:-auto}
out=${VMTEST_OUT:-$here/out}

t_start=${EPOCHREALTIME/./}
work=
stalled=
fetch_tmp=
vm_pid=
apt_updated=

usage() {
	cat <<EOF
usage: test/vm/test-vm.sh [PKG...] [-- TESTFLAG...]

Builds static test binaries for the Go packages PKG (default:
${default_pkgs[*]}, relative to the repository root; given patterns are
relative to the current directory, as with go test), boots them in a QEMU VM
with a pure cgroup v2 hierarchy and runs each in its package directory with
-test.v -test.count=1 -test.timeout=\$VMTEST_TEST_TIMEOUT \$VMTEST_ARGS TESTFLAG...

Environment: VMTEST_CACHE VMTEST_KPKG VMTEST_KMETA VMTEST_MEM VMTEST_SMP
VMTEST_TIMEOUT VMTEST_TEST_TIMEOUT VMTEST_STALL VMTEST_ARGS VMTEST_ACCEL
VMTEST_APPEND VMTEST_OUT VMTEST_KEEP (see test/vm/README.md).

Exit status: the guest's (0 pass, 1 fail), 125 no verdict, 2 usage error.
EOF
}

# elapsed prints the seconds since the script started, e.g. "12.3s".
elapsed() {
	local us=$((${EPOCHREALTIME/./} - t_start))
	printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000))
}

log() { printf 'test-vm: [%s] %s\n' "$(elapsed)" "$*" >&2; }

die() {
	local code=$1
	shift
	printf 'test-vm: error: %s\n' "$*" >&2
	exit "$code"
}

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [[ -n $vm_pid ]]; then
		# timeout(1) passes the TERM on to qemu and exits with it.
		kill -TERM "$vm_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$vm_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$vm_pid" 2>/dev/null || true
		wait "$vm_pid" 2>/dev/null || true
	fi
	# Should timeout(1) itself have died, qemu is still found by its pidfile.
	if [[ -n $work && -s $work/qemu.pid ]]; then
		pid=$(<"$work/qemu.pid")
		if grep -qs qemu-system "/proc/$pid/cmdline"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [[ -n $work ]]; then
		if [[ ${VMTEST_KEEP:-} == 1 ]]; then
			log "kept $work"
		else
			rm -rf "$work"
		fi
	fi
	if [[ -n $fetch_tmp ]]; then
		rm -rf "$fetch_tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_root runs a command as root, through sudo when needed.
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die 125 "need root (or sudo) to run: $*"
	fi
}

# apt_update refreshes the package lists, once per run.
apt_update() {
	[[ -n $apt_updated ]] && return 0
	log "apt-get update"
	as_root apt-get update -qq >"$work/apt-update.log" 2>&1 ||
		{ cat "$work/apt-update.log" >&2; die 125 "apt-get update failed"; }
	apt_updated=1
}

ensure_go() {
	if ! command -v go >/dev/null; then
		[[ -x /usr/local/go/bin/go ]] || die 125 "go not found"
		PATH=/usr/local/go/bin:$PATH
	fi
	# The guest is x86-64 and runs the host's builds.
	[[ $(go env GOARCH) == amd64 ]] || die 125 "an x86-64 host is needed (go env GOARCH: $(go env GOARCH))"
}

ensure_tools() {
	local t
	for t in timeout dpkg-deb tar; do
		command -v "$t" >/dev/null || die 125 "$t not found (a Debian-like host is needed)"
	done
	if ! command -v qemu-system-x86_64 >/dev/null; then
		command -v apt-get >/dev/null || die 125 "qemu-system-x86_64 not found and no apt-get to install it"
		apt_update
		log "apt-get install qemu-system-x86"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			qemu-system-x86 >"$work/apt-install.log" 2>&1 ||
			{ cat "$work/apt-install.log" >&2; die 125 "installing qemu-system-x86 failed"; }
		command -v qemu-system-x86_64 >/dev/null || die 125 "qemu-system-x86_64 still missing"
	fi
}

# fetch PKG DEST MEMBER... extracts the members (tar wildcards) of the .deb
# of PKG into the cache directory DEST, once: nothing is installed. Members
# land flat in DEST.
fetch() {
	local pkg=$1 dest=$2 tmp deb f
	shift 2
	[[ -f $dest/.complete ]] && return 0
	log "fetching $pkg into $dest"
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	fetch_tmp=$tmp
	# apt-get download, as root, hands the download to the _apt user.
	chmod 0755 "$tmp"
	if ! (cd "$tmp" && apt-get download -q "$pkg") >"$tmp/log" 2>&1; then
		# Stale or missing package lists: refresh once and retry.
		apt_update
		(cd "$tmp" && apt-get download -q "$pkg") >"$tmp/log" 2>&1 ||
			{ cat "$tmp/log" >&2; die 125 "apt-get download $pkg failed"; }
	fi
	deb=$(echo "$tmp"/*.deb)
	mkdir "$tmp/x" "$tmp/out"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards "$@" ||
		die 125 "extracting $* from $deb failed"
	for f in "$tmp"/x/*/*; do
		mv "$f" "$tmp/out/"
	done
	dpkg-deb -f "$deb" Package Version >"$tmp/out/package"
	touch "$tmp/out/.complete"
	rm -rf "$dest"
	mv -T "$tmp/out" "$dest"
	rm -rf "$tmp"
	fetch_tmp=
}

ensure_kernel_busybox() {
	local kpkg=${VMTEST_KPKG:-}
	if [[ -z $kpkg ]]; then
		# The metapackage's Depends names the current ABI's image package.
		kpkg=$(apt-cache show --no-all-versions "$kmeta" 2>/dev/null |
			sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n1) || true
		if [[ -z $kpkg ]]; then
			apt_update
			kpkg=$(apt-cache show --no-all-versions "$kmeta" 2>/dev/null |
				sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n1) || true
		fi
		[[ -n $kpkg ]] || die 125 "cannot resolve $kmeta to a kernel image package"
	fi
	fetch "$kpkg" "$cache/$kpkg" './boot/vmlinuz-*' './boot/config-*'
	# Installing busybox-static would remove busybox: extract it only.
	fetch busybox-static "$cache/busybox-static" ./bin/busybox
	kernel=$(echo "$cache/$kpkg"/vmlinuz-*)
	busybox=$cache/busybox-static/busybox
	[[ -f $kernel && -x $busybox ]] || die 125 "cache $cache is incomplete; remove it and retry"
	log "kernel $kpkg ($(sed -n 's/^Version: //p' "$cache/$kpkg/package")), busybox $(sed -n 's/^Version: //p' "$cache/busybox-static/package")"
}

# build_tests fills $work/root with the static test binaries, their
# testdata and the test hook, and writes the guest's package list.
build_tests() {
	local line ip dir ntest nxtest err rel name dest
	local -a listed
	# Patterns that name no directory are usage errors; packages that fail
	# to load are reported by their build below.
	mapfile -t listed < <(go list -e -f \
		'{{.ImportPath}}|{{.Dir}}|{{len .TestGoFiles}}|{{len .XTestGoFiles}}|{{if .Error}}E{{end}}' \
		"${pkgs[@]}") || die 2 "go list ${pkgs[*]} failed"
	for line in "${listed[@]}"; do
		IFS='|' read -r ip dir ntest nxtest err <<<"$line"
		if [[ -z $dir ]]; then
			go list "$ip" >/dev/null || true
			die 2 "no package at $ip"
		fi
		if ((ntest + nxtest == 0)) && [[ -z $err ]]; then
			continue
		fi
		if [[ $dir == "$repo" ]]; then
			rel=.
		elif [[ $dir == "$repo"/* ]]; then
			rel=${dir#"$repo"/}
		else
			rel=ext/$ip
		fi
		name=${ip##*/}.test
		dest=$work/root/hooksupd/$rel
		mkdir -p "$dest"
		if ! CGO_ENABLED=0 go test -c -o "$dest/$name" "$ip"; then
			printf 'FAIL\t%s [build failed]\n' "$ip"
			build_failed+=("$ip")
			continue
		fi
		if [[ ! -f $dest/$name ]]; then
			continue # only possible for a package whose tests are all excluded by build tags
		fi
		if [[ -d $dir/testdata ]]; then
			cp -a "$dir/testdata" "$dest/"
		fi
		# The probe goes first: if the VM breaks its promises, that is
		# the first failure in the log.
		if [[ $rel == test/vm/probe ]]; then
			built=("$ip $rel $name" "${built[@]}")
		else
			built+=("$ip $rel $name")
		fi
	done
	if ((${#built[@]})); then
		printf '%s\n' "${built[@]}" >"$work/root/vmtest.pkgs"
	fi
	hookbin=
	if [[ -d $repo/test/hooks/testhook ]]; then
		if (cd "$repo" && CGO_ENABLED=0 go build -o "$work/root/hooksupd/bin/testhook" ./test/hooks/testhook); then
			hookbin=/hooksupd/bin/testhook
		else
			printf 'FAIL\t%s [build failed]\n' ./test/hooks/testhook
			build_failed+=(./test/hooks/testhook)
		fi
	else
		log "test/hooks/testhook does not exist: HOOKSUPD_TEST_HOOKBIN stays unset"
	fi
	# The hooksupd binary, for tests that run it as a program (test/container
	# starts it as a container's PID 1).
	hooksupdbin=
	if (cd "$repo" && CGO_ENABLED=0 go build -o "$work/root/hooksupd/bin/hooksupd" ./cmd/hooksupd); then
		hooksupdbin=/hooksupd/bin/hooksupd
	else
		printf 'FAIL\t%s [build failed]\n' ./cmd/hooksupd
		build_failed+=(./cmd/hooksupd)
	fi
}

# shq quotes one word for a POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

build_initramfs() {
	local root=$work/root a
	mkdir -p "$root/bin"
	cp "$busybox" "$root/bin/busybox"
	install -m 0755 "$here/init" "$root/init"
	{
		printf 'VMTEST_TEST_TIMEOUT=%s\n' "$(shq "$test_timeout")"
		printf 'HOOKSUPD_TEST_HOOKBIN=%s\n' "$(shq "$hookbin")"
		printf 'HOOKSUPD_TEST_HOOKSUPD=%s\n' "$(shq "$hooksupdbin")"
		printf 'set --'
		for a in "${testflags[@]}"; do
			printf ' %s' "$(shq "$a")"
		done
		printf '\n'
	} >"$root/vmtest.conf"
	(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio"
	log "initramfs $(($(stat -c %s "$work/initrd.cpio") / 1024 / 1024)) MiB"
}

# pick_accel sets accel_args: KVM only where it can run a stock kernel
# (hardware virtualisation visible), else multi-threaded TCG.
pick_accel() {
	case $accel in
	auto)
		if [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
			accel=kvm
		else
			accel=tcg
		fi
		;;
	esac
	clock_args=
	if [[ $accel == kvm ]]; then
		accel_args=(-accel kvm -cpu host)
		return
	fi
	# The default qemu64 CPU: fork/exec is about 2x faster than -cpu max.
	accel_args=(-accel 'tcg,thread=multi')
	# The guest's TSC is the host's. Given its measured frequency, the guest
	# keeps the TSC as its clocksource (a vDSO read) instead of the HPET (a
	# system call and an emulated MMIO access per read), which made the
	# supervisor suite about 6x slower. See tscfreq/main.go.
	local khz
	if (cd "$repo" && CGO_ENABLED=0 go build -o "$work/tscfreq" ./test/vm/tscfreq) &&
		khz=$("$work/tscfreq") && [[ $khz =~ ^[1-9][0-9]+$ ]]; then
		clock_args="tsc=reliable tsc_early_khz=$khz"
	else
		log "could not measure the TSC frequency: the guest clock will be the slow HPET"
	fi
}

run_vm() {
	local log_file=$out/console.log rc=0 status
	mkdir -p "$out"
	: >"$log_file"
	pick_accel
	log "booting ($accel${clock_args:+, $clock_args}, ${smp} CPUs, ${mem} MiB, timeout ${vm_timeout}s); console log: ${log_file#"$repo"/}"
	timeout -k 10 "$vm_timeout" qemu-system-x86_64 \
		-nodefaults -no-user-config -display none -no-reboot \
		"${accel_args[@]}" -smp "$smp" -m "$mem" \
		-kernel "$kernel" -initrd "$work/initrd.cpio" \
		-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 $clock_args ${VMTEST_APPEND:-}" \
		-chardev "stdio,id=con,signal=off,logfile=$log_file" -serial chardev:con \
		-pidfile "$work/qemu.pid" \
		</dev/null 2>"$out/qemu.log" &
	vm_pid=$!
	watch_console "$log_file"
	wait "$vm_pid" || rc=$?
	vm_pid=
	if [[ -s $out/qemu.log ]]; then
		sed 's/^/qemu: /' "$out/qemu.log" >&2
	fi
	status=$(tr -d '\r' <"$log_file" | grep -o 'VMTEST-EXIT=[0-9]*' | tail -n1 | cut -d= -f2) || true
	if [[ -z $status ]]; then
		if [[ -n $stalled ]]; then
			log "no verdict: the guest stalled (kernel hang?); see the console log"
		elif ((rc == 124 || rc == 137)); then
			log "no verdict: the VM did not finish within ${vm_timeout}s (VMTEST_TIMEOUT)"
		else
			log "no verdict: the VM stopped without VMTEST-EXIT (qemu status $rc; kernel panic? see the console log)"
		fi
		guest_status=125
		return
	fi
	guest_status=$status
}

# watch_console returns when the VM has stopped. A guest whose console
# stays silent for longer than any test may (the per-package -test.timeout,
# whose panic prints, plus two minutes) is stuck: it is stopped then rather
# than at VMTEST_TIMEOUT.
watch_console() {
	local log_file=$1 limit size last=-1 since=$SECONDS done_at=
	limit=${VMTEST_STALL:-}
	if [[ -z $limit ]]; then
		limit=$(duration_secs "$test_timeout")
		((limit == 0)) || limit=$((limit + 120))
	fi
	while kill -0 "$vm_pid" 2>/dev/null; do
		sleep 1 &
		wait $! || true
		size=$(stat -c %s "$log_file" 2>/dev/null) || size=0
		if ((size != last)); then
			last=$size
			since=$SECONDS
			if [[ -z $done_at ]] && grep -q 'VMTEST-EXIT=' "$log_file"; then
				done_at=$SECONDS
			fi
		fi
		if [[ -n $done_at ]] && ((SECONDS - done_at > 30)); then
			log "the guest gave its verdict but did not power off: stopping it"
			kill -TERM "$vm_pid" 2>/dev/null || true
			break
		elif ((limit > 0 && SECONDS - since > limit)); then
			log "the guest printed nothing for ${limit}s (VMTEST_STALL): stopping it"
			stalled=1
			kill -TERM "$vm_pid" 2>/dev/null || true
			break
		fi
	done
}

# duration_secs converts a Go duration of one unit (90s, 10m, 1h) to
# seconds; other forms give 0, which leaves only VMTEST_TIMEOUT.
duration_secs() {
	local n=${1%[smh]}
	[[ $n =~ ^[0-9]+$ && $1 =~ [smh]$ ]] || {
		echo 0
		return
	}
	case $1 in
	*s) echo "$n" ;;
	*m) echo $((n * 60)) ;;
	*h) echo $((n * 3600)) ;;
	esac
}

summary() {
	local log_file=$out/console.log ok fail
	ok=$(tr -d '\r' <"$log_file" | grep -c '^VMTEST-END .* status=0 ') || true
	fail=$(tr -d '\r' <"$log_file" | grep '^VMTEST-END ' | grep -vc ' status=0 ') || true
	log "packages: $ok ok, $fail failed in the VM, ${#build_failed[@]} failed to build; guest status ${guest_status}; log ${log_file#"$repo"/}"
}

pkgs=()
testflags=()
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		testflags+=("$@")
		break
		;;
	-*)
		usage >&2
		die 2 "unknown option $1"
		;;
	*) pkgs+=("$1") ;;
	esac
	shift
done
if ((${#pkgs[@]} == 0)); then
	pkgs=("${default_pkgs[@]}")
	cd "$repo"
fi
read -r -a envflags <<<"${VMTEST_ARGS:-}"
testflags=("${envflags[@]}" "${testflags[@]}")
for v in VMTEST_MEM:mem VMTEST_SMP:smp VMTEST_TIMEOUT:vm_timeout; do
	var=${v#*:}
	[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die 2 "${v%%:*} must be a positive integer, not '${!var}'"
done
[[ ${VMTEST_STALL:-0} =~ ^[0-9]+$ ]] || die 2 "VMTEST_STALL must be a number of seconds, not '$VMTEST_STALL'"
[[ $accel =~ ^(auto|kvm|tcg)$ ]] || die 2 "VMTEST_ACCEL=$accel: want auto, kvm or tcg"
[[ ${VMTEST_KPKG:-x} =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die 2 "VMTEST_KPKG=$VMTEST_KPKG is not a package name"

work=$(mktemp -d "${TMPDIR:-/tmp}/hooksupd-vm.XXXXXX")
mkdir -p "$work/root"
built=()
build_failed=()

# Build first: a bad pattern is reported before anything is installed.
ensure_go
log "building test binaries for ${pkgs[*]}"
build_tests
if ((${#built[@]} == 0)); then
	if ((${#build_failed[@]})); then
		die 1 "no test binary built"
	fi
	die 2 "no package with tests in ${pkgs[*]}"
fi
log "built ${#built[@]} test binaries${hookbin:+ and the test hook}"
ensure_tools
ensure_kernel_busybox
build_initramfs
run_vm
summary
if ((guest_status == 0 && ${#build_failed[@]} > 0)); then
	exit 1
fi
exit "$guest_status"
