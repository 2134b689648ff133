#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fork-bomb.sh: a hook that starts far more processes than its pids cap.
# With limits.pids_max = 8 the kernel refuses the 9th task of its cgroup
# (fork fails with EAGAIN); the shell gives up, the fire fails, and
# hooksupd kills whatever the hook had started.
cat >/dev/null
i=0
while [ $i -lt 64 ]; do
	sleep 60 &
	i=$((i + 1))
done
echo '{"action":"allow"}'
