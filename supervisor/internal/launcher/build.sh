#!/bin/sh
# Builds the launcher blob that blob_amd64.go embeds:
#   sh build.sh [output]    (default: launcher_amd64.bin next to this script)
# The source is csrc/launcher.c (which includes csrc/sandbox.h), kept out
# of the Go package because go build refuses C files in a package that
# does not use cgo. The blob is committed
# so that building hooksupd needs no C compiler; TestBlobMatchesSource
# rebuilds it and compares when gcc is available.
set -eu
out=$(realpath -m "${1:-$(dirname "$0")/launcher_amd64.bin}")
cd "$(dirname "$0")"
CC=${CC:-gcc}
# Freestanding and static: no libc, no runtime, no unwind tables, no stack
# protector (there is no TLS canary without libc), no PIE, no build id, no
# file names: the output must be reproducible byte for byte.
$CC -nostdlib -static -Os -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-tree-loop-distribute-patterns -fcf-protection=none -fno-pie -no-pie \
	-ffunction-sections -fdata-sections \
	-Wall -Wextra -Werror \
	-Wl,--gc-sections -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,norelro \
	-Wl,-z,max-page-size=4096 -s \
	-o "$out" csrc/launcher.c
