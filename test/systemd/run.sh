#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh: test the hooksupd Debian package under a real systemd, as a user
# would use it. It builds a minimal Debian rootfs with systemd (debootstrap,
# cached), builds the amd64 package twice with `make package` (this tree's
# version and a bumped one), puts both .deb files, the hooks and the test
# unit from guest/ into it, and boots it in QEMU with a stock Debian cloud
# kernel. Inside, hooksupd-vmtest.service runs guest/check.sh: dpkg -i (the
# service is enabled and started), fires through the socket, readiness,
# delegated cgroups, reload, stop, socket activation, the upgrade to the
# rebuilt package (the edited conffile kept, the service restarted with
# its hooks), then dpkg --purge and a search for anything of hooksupd left
# (file, unit, user, group, cgroup, process). Every result comes back over
# the serial console.
#
# Usage: test/systemd/run.sh        (make test-systemd)
#
# Needs root (debootstrap, root-owned files in the image), a Debian-like host
# (apt-get installs qemu-system-x86 and debootstrap when missing) and a Debian
# mirror. The rootfs is cached in $SYSTEMD_TEST_CACHE (default
# ~/.cache/hooksupd-systemd), keyed by the ISO week, the package list and the
# recipe version; a new week rebuilds it (debootstrap, about 2 minutes).
#
# Environment: SYSTEMD_TEST_CACHE, SYSTEMD_TEST_MIRROR, SYSTEMD_TEST_KPKG,
# SYSTEMD_TEST_MEM (MiB, 1024), SYSTEMD_TEST_SMP (2), SYSTEMD_TEST_TIMEOUT
# (seconds, 900), SYSTEMD_TEST_ACCEL (auto|kvm|tcg), SYSTEMD_TEST_OUT (console
# log directory, default bin/test-systemd), SYSTEMD_TEST_KEEP=1 (keep the
# work directory).
#
# Exit status: 0 every check passed, 1 a check failed, 125 no verdict (the VM
# did not finish, or the setup failed), 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo

cache=${SYSTEMD_TEST_CACHE:-$HOME/.cache/hooksupd-systemd}
mirror=${SYSTEMD_TEST_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
kmeta=linux-image-cloud-amd64
mem=${SYSTEMD_TEST_MEM:-1024}
smp=${SYSTEMD_TEST_SMP:-2}
vm_timeout=${SYSTEMD_TEST_TIMEOUT:-900}
accel=${SYSTEMD_TEST_ACCEL:-auto}
out=${SYSTEMD_TEST_OUT:-$repo/bin/test-systemd}
packages=(systemd systemd-sysv netcat-openbsd)
# Bump when the rootfs recipe (build_rootfs) changes: cached rootfs are
# keyed by it.
readonly recipe=1
# Modules of the cloud kernel needed to reach a virtio disk, in load order.
readonly modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk)

t_start=${EPOCHREALTIME/./}
work=
vm_pid=
apt_updated=

case ${1:-} in
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: test/systemd/run.sh (see --help)" >&2
	exit 2
	;;
esac

elapsed() {
	local us=$((${EPOCHREALTIME/./} - t_start))
	printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000))
}
log() { printf 'test-systemd: [%s] %s\n' "$(elapsed)" "$*" >&2; }
die() {
	local code=$1
	shift
	printf 'test-systemd: error: %s\n' "$*" >&2
	exit "$code"
}

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [[ -n $vm_pid ]]; then
		kill -TERM "$vm_pid" 2>/dev/null || true
		wait "$vm_pid" 2>/dev/null || true
	fi
	if [[ -n $work && -s $work/qemu.pid ]]; then
		pid=$(<"$work/qemu.pid")
		if grep -qs qemu-system "/proc/$pid/cmdline"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [[ -n $work ]]; then
		if [[ ${SYSTEMD_TEST_KEEP:-} == 1 ]]; then
			log "kept $work"
		else
			rm -rf "$work"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_update() {
	[[ -n $apt_updated ]] && return 0
	log "apt-get update"
	apt-get update -qq >"$work/apt-update.log" 2>&1 ||
		{ cat "$work/apt-update.log" >&2; die 125 "apt-get update failed"; }
	apt_updated=1
}

# need CMD PACKAGE: install PACKAGE when CMD is missing.
need() {
	command -v "$1" >/dev/null && return 0
	command -v apt-get >/dev/null || die 125 "$1 not found and no apt-get to install $2"
	apt_update
	log "apt-get install $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
		>"$work/apt-install.log" 2>&1 || { cat "$work/apt-install.log" >&2; die 125 "installing $2 failed"; }
	command -v "$1" >/dev/null || die 125 "$1 still missing after installing $2"
}

ensure_tools() {
	((EUID == 0)) || die 125 "needs root: debootstrap, and the image holds root-owned files"
	local t
	for t in timeout dpkg dpkg-deb tar make sha256sum; do
		command -v "$t" >/dev/null || die 125 "$t not found (a Debian-like host is needed)"
	done
	if ! command -v go >/dev/null; then
		[[ -x /usr/local/go/bin/go ]] || die 125 "go not found"
		PATH=/usr/local/go/bin:$PATH
	fi
	need qemu-system-x86_64 qemu-system-x86
	need debootstrap debootstrap
	need mke2fs e2fsprogs
}

# fetch PKG DEST MEMBER...: extract members (tar wildcards) of PKG's .deb into
# DEST once, flat; nothing is installed.
fetch() {
	local pkg=$1 dest=$2 tmp deb
	shift 2
	[[ -f $dest/.complete ]] && return 0
	log "fetching $pkg"
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	chmod 0755 "$tmp" # apt-get download hands the file to the _apt user
	if ! (cd "$tmp" && apt-get download -q "$pkg") >"$tmp/log" 2>&1; then
		apt_update
		(cd "$tmp" && apt-get download -q "$pkg") >"$tmp/log" 2>&1 ||
			{ cat "$tmp/log" >&2; rm -rf "$tmp"; die 125 "apt-get download $pkg failed"; }
	fi
	deb=$(echo "$tmp"/*.deb)
	mkdir "$tmp/x" "$tmp/out"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards "$@" ||
		{ rm -rf "$tmp"; die 125 "extracting $* from $deb failed"; }
	find "$tmp/x" -type f -exec mv -t "$tmp/out" {} +
	dpkg-deb -f "$deb" Package Version >"$tmp/out/package"
	touch "$tmp/out/.complete"
	rm -rf "$dest"
	mv -T "$tmp/out" "$dest"
	rm -rf "$tmp"
}

ensure_kernel() {
	local kpkg=${SYSTEMD_TEST_KPKG:-} m
	if [[ -z $kpkg ]]; then
		# The metapackage names the current ABI's image package.
		kpkg=$(apt-cache show --no-all-versions "$kmeta" 2>/dev/null |
			sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n1) || true
		if [[ -z $kpkg ]]; then
			apt_update
			kpkg=$(apt-cache show --no-all-versions "$kmeta" 2>/dev/null |
				sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n1) || true
		fi
		[[ -n $kpkg ]] || die 125 "cannot resolve $kmeta to a kernel image package"
	fi
	[[ $kpkg =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die 2 "SYSTEMD_TEST_KPKG=$kpkg is not a package name"
	local members=('./boot/vmlinuz-*')
	for m in "${modules[@]}"; do
		members+=("./lib/modules/*/$m.ko")
	done
	fetch "$kpkg" "$cache/$kpkg" "${members[@]}"
	fetch busybox-static "$cache/busybox-static" ./bin/busybox
	kernel=$(echo "$cache/$kpkg"/vmlinuz-*)
	kdir=$cache/$kpkg
	busybox=$cache/busybox-static/busybox
	[[ -f $kernel && -x $busybox ]] || die 125 "cache $cache is incomplete; remove it and retry"
	log "kernel $kpkg ($(sed -n 's/^Version: //p' "$kdir/package"))"
}

# build_rootfs TAR: debootstrap a minimal system with systemd, trim it, make
# it boot unattended, and store it as TAR.
build_rootfs() {
	local tar=$1 tmp r u
	tmp=$(mktemp -d "$cache/.rootfs.XXXXXX")
	r=$tmp/root
	log "debootstrap $suite (minbase + ${packages[*]}) from $mirror; log $tmp/debootstrap.log"
	if ! debootstrap --variant=minbase --include="$(
		IFS=,
		echo "${packages[*]}"
	)" "$suite" "$r" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		rm -rf "$tmp"
		die 125 "debootstrap failed"
	fi
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* \
		"$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/locale/* "$r"/usr/share/info/*
	echo hooksupd-vmtest >"$r/etc/hostname"
	# A machine id makes this an ordinary boot: on a first boot
	# systemd-firstboot would prompt on the console.
	echo 6f7a3b0c2d1e4f5a8b9c0d1e2f3a4b5c >"$r/etc/machine-id"
	: >"$r/etc/fstab"
	for u in getty.target serial-getty@ttyS0.service console-getty.service systemd-firstboot.service \
		apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
		systemd-timesyncd.service; do
		ln -sfn /dev/null "$r/etc/systemd/system/$u"
	done
	tar --numeric-owner -C "$r" -cf "$tmp/rootfs.tar" .
	mv "$tmp/rootfs.tar" "$tar"
	rm -rf "$tmp"
}

ensure_rootfs() {
	local key old
	key=$(printf '%s\n' "$suite" "${packages[@]}" "$mirror" "$recipe" | sha256sum | cut -c1-12)
	rootfs=$cache/rootfs-$suite-$(date -u +%G-W%V)-$key.tar
	if [[ -f $rootfs ]]; then
		log "rootfs cached: ${rootfs##*/}"
		return
	fi
	mkdir -p "$cache"
	build_rootfs "$rootfs"
	for old in "$cache"/rootfs-*.tar; do
		[[ $old == "$rootfs" ]] || rm -f "$old"
	done
	log "rootfs built: ${rootfs##*/} ($(($(stat -c %s "$rootfs") / 1024 / 1024)) MiB)"
}

# build_packages: the amd64 .deb of this tree and of the same tree with the
# next patch version, the upgrade the guest installs over the first.
build_packages() {
	local v next
	v=$(<"$repo/VERSION")
	[[ $v =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)(.*)$ ]] || die 1 "VERSION '$v' is not semantic"
	next=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))
	log "make package $v and $next (amd64)"
	make -C "$repo" --no-print-directory package DEB_ARCHES=amd64 BIN="$work/pkg1" \
		>"$work/make-package.log" 2>&1 &&
		make -C "$repo" --no-print-directory package DEB_ARCHES=amd64 BIN="$work/pkg2" VERSION="$next" \
			>>"$work/make-package.log" 2>&1 || { cat "$work/make-package.log" >&2; die 1 "make package failed"; }
	deb_old=$(echo "$work"/pkg1/hooksupd_*_amd64.deb)
	deb_new=$(echo "$work"/pkg2/hooksupd_*_amd64.deb)
	[[ -f $deb_old && -f $deb_new ]] || die 1 "make package made no .deb in $work/pkg1 and $work/pkg2"
	ver_old=$(dpkg-deb -f "$deb_old" Version)
	ver_new=$(dpkg-deb -f "$deb_new" Version)
	dpkg --compare-versions "$ver_new" gt "$ver_old" || die 1 "package $ver_new does not upgrade $ver_old"
	app_old=v$v app_new=v$next
}

# build_image: the rootfs plus both packages (not installed: the guest
# installs them), the test hooks and the test unit, as an ext4 image.
build_image() {
	local r=$work/root g=$here/guest u s=/usr/local/lib/hooksupd-vmtest
	mkdir "$r"
	tar --numeric-owner -C "$r" -xf "$rootfs"
	install -d -m 0755 "$r/usr/local/lib/hooksupd" "$r$s"
	install -m 0644 "$deb_old" "$r$s/old.deb"
	install -m 0644 "$deb_new" "$r$s/new.deb"
	printf 'VER_OLD=%q\nVER_NEW=%q\nAPP_OLD=%q\nAPP_NEW=%q\n' "$ver_old" "$ver_new" "$app_old" "$app_new" >"$r$s/versions"
	install -m 0755 "$g/guard" "$g/echo-daemon" "$r/usr/local/lib/hooksupd/"
	install -m 0644 "$g/hooks.toml" "$r$s/hooks.toml"
	install -m 0644 "$g/hooks-bad.toml" "$r$s/"
	install -m 0755 "$g/check.sh" "$r/usr/local/lib/hooksupd-vmtest/check.sh"
	install -m 0644 "$g/hooksupd-vmtest.service" "$r/etc/systemd/system/"
	# systemctl enable, done by hand so the host needs no systemctl.
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
	ln -sfn /etc/systemd/system/hooksupd-vmtest.service "$r/etc/systemd/system/multi-user.target.wants/hooksupd-vmtest.service"
	truncate -s 1G "$work/root.img"
	mke2fs -q -t ext4 -L hooksupd-root -d "$r" "$work/root.img" ||
		die 125 "mke2fs -d failed"
	rm -rf "$r"
}

build_initramfs() {
	local i=$work/initramfs m
	mkdir -p "$i/bin" "$i/modules"
	cp "$busybox" "$i/bin/busybox"
	install -m 0755 "$here/initramfs-init" "$i/init"
	for m in "${modules[@]}"; do
		if [[ -f $kdir/$m.ko ]]; then
			cp "$kdir/$m.ko" "$i/modules/"
			echo "$m" >>"$i/modules/order"
		fi
	done
	(cd "$i" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio"
}

pick_accel() {
	case $accel in
	auto)
		if [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
		;;
	kvm | tcg) ;;
	*) die 2 "SYSTEMD_TEST_ACCEL=$accel: want auto, kvm or tcg" ;;
	esac
	if [[ $accel == kvm ]]; then
		accel_args=(-accel kvm -cpu host)
	else
		accel_args=(-accel 'tcg,thread=multi')
	fi
}

run_vm() {
	local console=$out/console.log rc=0
	mkdir -p "$out"
	: >"$console"
	pick_accel
	log "booting ($accel, $smp CPUs, $mem MiB, timeout ${vm_timeout}s); console log ${console#"$repo"/}"
	timeout -k 10 "$vm_timeout" qemu-system-x86_64 \
		-nodefaults -no-user-config -display none -no-reboot \
		"${accel_args[@]}" -smp "$smp" -m "$mem" \
		-kernel "$kernel" -initrd "$work/initrd.cpio" \
		-drive "file=$work/root.img,if=virtio,format=raw,cache=unsafe" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 systemd.show_status=error" \
		-chardev "file,id=con,path=$console" -serial chardev:con \
		-pidfile "$work/qemu.pid" </dev/null >"$out/qemu.log" 2>&1 &
	vm_pid=$!
	# Follow the results as they come; tail ends by itself once qemu (and
	# its timeout wrapper) is gone, and the rest of the pipeline with it.
	tail -n +1 -F --pid="$vm_pid" "$console" 2>/dev/null |
		grep --line-buffered -a 'SYSTEMD-TEST' | sed -u 's/^.*SYSTEMD-TEST/SYSTEMD-TEST/' >&2 &
	local follow=$!
	wait "$vm_pid" || rc=$?
	vm_pid=
	wait "$follow" 2>/dev/null || true
	if [[ -s $out/qemu.log ]]; then
		sed 's/^/qemu: /' "$out/qemu.log" >&2
	fi
	verdict=$(tr -d '\r' <"$console" | grep -ao 'SYSTEMD-TEST-EXIT=[0-9]*' | tail -n1 | cut -d= -f2) || true
	if [[ -z $verdict ]]; then
		if ((rc == 124 || rc == 137)); then
			log "no verdict: the VM did not finish within ${vm_timeout}s"
		else
			log "no verdict: the VM stopped without SYSTEMD-TEST-EXIT (qemu status $rc); see the console log"
		fi
		verdict=125
	fi
}

for v in SYSTEMD_TEST_MEM:mem SYSTEMD_TEST_SMP:smp SYSTEMD_TEST_TIMEOUT:vm_timeout; do
	var=${v#*:}
	[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die 2 "${v%%:*} must be a positive integer, not '${!var}'"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hooksupd-systemd.XXXXXX")
ensure_tools
ensure_kernel
ensure_rootfs
t_image=${EPOCHREALTIME/./}
build_packages
build_image
build_initramfs
log "image ready ($(du -m --apparent-size "$work/root.img" | cut -f1) MiB sparse, $(du -m "$work/root.img" | cut -f1) MiB used)"
t_boot=${EPOCHREALTIME/./}
run_vm
t_end=${EPOCHREALTIME/./}
log "times: setup+rootfs $(((t_image - t_start) / 1000000))s, image $(((t_boot - t_image) / 1000000))s, boot+test $(((t_end - t_boot) / 1000000))s, total $(elapsed)"
case $verdict in
0) log "PASS" ;;
125) log "NO VERDICT" ;;
*)
	log "FAIL: $verdict check(s) failed"
	verdict=1
	;;
esac
exit "$verdict"
