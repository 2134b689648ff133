#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the launcher blob that blob_$ARCH.go embeds:
#   sh build.sh [output]             (default: launcher_$ARCH.bin next to this script)
#   ARCH=arm64 sh build.sh [output]  (cross: Debian's gcc-aarch64-linux-gnu)
# ARCH is amd64 (default) or arm64; CC defaults to gcc and
# aarch64-linux-gnu-gcc. The source is csrc/launcher.c (which includes
# csrc/sandbox.h), kept out of the Go package because go build refuses C
# files in a package that does not use cgo. The blobs are committed so
# that building hooksupd needs no C compiler; TestBlobMatchesSource
# rebuilds each and compares when its compiler is installed.
set -eu
ARCH=${ARCH:-amd64}
out=$(realpath -m "${1:-$(dirname "$0")/launcher_$ARCH.bin}")
cd "$(dirname "$0")"
case $ARCH in
amd64)
	CC=${CC:-gcc}
	# No CET notes; pages are 4 KiB on x86-64.
	archflags="-fcf-protection=none -Wl,-z,max-page-size=4096"
	;;
arm64)
	CC=${CC:-aarch64-linux-gnu-gcc}
	# No PAC/BTI notes; segments aligned for 4, 16 and 64 KiB page kernels.
	archflags="-mbranch-protection=none -Wl,-z,max-page-size=65536"
	;;
*)
	echo "build.sh: ARCH must be amd64 or arm64, not $ARCH" >&2
	exit 2
	;;
esac
# Freestanding and static: no libc, no runtime, no unwind tables, no stack
# protector (there is no TLS canary without libc), no PIE, no build id, no
# file names: the output must be reproducible byte for byte.
# shellcheck disable=SC2086 # archflags are words
$CC -nostdlib -static -Os -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns -fno-pie -no-pie \
	-ffunction-sections -fdata-sections \
	-Wall -Wextra -Werror \
	-Wl,--gc-sections -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,norelro \
	$archflags -s \
	-o "$out" csrc/launcher.c
