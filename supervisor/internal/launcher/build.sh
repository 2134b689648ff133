#!/bin/sh
# Builds a launcher blob that blob_ARCH.go embeds:
#   sh build.sh [output]              amd64 (default: launcher_amd64.bin here)
#   ARCH=arm64 sh build.sh [output]   arm64 (default: launcher_arm64.bin here)
# The source is csrc/launcher.c (with csrc/arch_aarch64.h on arm64), kept
# out of the Go package because go build refuses C files in a package that
# does not use cgo. The blobs are committed so that building hooksupd needs
# no C compiler; TestBlobMatchesSource and TestArm64BlobMatchesSource
# rebuild them and compare when the compilers are available. arm64 uses
# Debian's cross compiler (apt: gcc-aarch64-linux-gnu) unless CC is set.
set -eu
ARCH=${ARCH:-amd64}
out=$(realpath -m "${1:-$(dirname "$0")/launcher_$ARCH.bin}")
cd "$(dirname "$0")"
case $ARCH in
amd64)
	CC=${CC:-gcc}
	archflags="-fcf-protection=none"
	;;
arm64)
	CC=${CC:-aarch64-linux-gnu-gcc}
	# No pointer authentication or BTI notes (nothing to gain in a
	# process that lives until its execve), and no FP/SIMD registers: the
	# code needs none and the kernel then has no state to save for it.
	archflags="-mbranch-protection=none -mgeneral-regs-only"
	;;
*)
	echo "build.sh: unknown ARCH $ARCH (amd64 or arm64)" >&2
	exit 2
	;;
esac
# Freestanding and static: no libc, no runtime, no unwind tables, no stack
# protector (there is no TLS canary without libc), no PIE, no build id, no
# file names: the output must be reproducible byte for byte.
# shellcheck disable=SC2086 # archflags is a list of flags
$CC -nostdlib -static -Os -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns $archflags -fno-pie -no-pie \
	-ffunction-sections -fdata-sections \
	-Wall -Wextra -Werror \
	-Wl,--gc-sections -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,norelro \
	-Wl,-z,max-page-size=4096 -s \
	-o "$out" csrc/launcher.c
