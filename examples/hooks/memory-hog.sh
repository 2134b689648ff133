#!/bin/sh
# memory-hog.sh — a hook gone wrong: it buffers far more than its
# memory_max (examples/caps.toml gives it 32M). The kernel's OOM killer
# ends it inside its own group; hooksupd reports the fire as oom_killed
# (from the group's oom_kill counter, not guessed from SIGKILL) and the
# hook's fail_mode answers the caller.
IFS= read -r envelope || true
# tail must hold all of its input (there is no newline in /dev/zero).
head -c 512M /dev/zero | tail >/dev/null
echo '{"action":"allow"}'
