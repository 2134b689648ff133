#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# memory-hog.sh: a hook that needs more memory than its limit allows. dd
# reads 256 MiB of zeros into one buffer; with limits.memory_max = "32M"
# the kernel's OOM killer ends it inside its own cgroup, hooksupd reports
# the fire as oom_killed, and nothing else on the host feels it.
cat >/dev/null
dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null
echo '{"action":"allow"}'
