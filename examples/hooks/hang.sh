#!/bin/sh
# hang.sh — a hook that never answers and leaves a grandchild in its own
# session (a double fork plus setsid, the classic escape from a process
# group). At timeout_ms hooksupd kills the whole tree through the hook's
# group — the escapee included — and the fire follows fail_mode.
IFS= read -r envelope || true
(setsid sleep 3017 &)
sleep 3017
