#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# recall-counter.sh — a daemon-mode hook.
#
# In daemon mode hooksupd starts the hook once and keeps it running: every
# fire writes one request line to its stdin and reads exactly one reply
# line from its stdout, in order. So the hook loops: read a line, answer a
# line. stdout must carry nothing but replies (a stray print would be read
# as the next reply and reset the connection); diagnostics go to stderr.
#
# post_recall is a notify event: the recall already happened, so the hook
# can observe (count, log, sample) but not change the outcome.
set -u

n=0
while IFS= read -r request; do
	n=$((n + 1))
	query=$(printf '%s\n' "$request" | sed -n 's/.*"query":"\([^"]*\)".*/\1/p')
	printf 'recall-counter: recall #%d query=%s (daemon pid %s)\n' "$n" "${query:-?}" "$$" >&2
	echo '{"action":"allow"}'
done
# stdin closed: hooksupd is stopping the hook (it also sends SIGTERM).
printf 'recall-counter: stopping after %d recalls\n' "$n" >&2
