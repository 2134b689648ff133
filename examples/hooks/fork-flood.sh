#!/bin/sh
# fork-flood.sh — a fork bomb in slow motion: it tries to start 50
# background processes under pids_max = 8 (examples/caps.toml). The
# kernel refuses every fork past the cap (EAGAIN); the shell gives up
# ("Cannot fork") and exits non-zero, the fire follows fail_mode, and
# hooksupd kills the processes it did start when the fire ends.
IFS= read -r envelope || true
i=0
while [ "$i" -lt 50 ]; do
	i=$((i + 1))
	sleep 30 &
	echo "fork-flood: started background process $i" >&2
done
echo '{"action":"allow"}'
