#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# audit-log.sh — an exec-mode hook that records every fire and allows it.
#
# hooksupd writes one line to stdin:
#   {"event":"pre_store","payload":{...}}
# and then closes stdin. The decision is the last non-empty line on stdout;
# anything on stderr goes to hooksupd's log (redacted, size-capped), which
# is where an audit trail belongs: stdout is reserved for the decision.
#
# The hook must exit 0: a non-zero exit is an error, and the hook's
# fail_mode decides what the chain makes of it.
set -u

IFS= read -r envelope || true

# No JSON tool is assumed on the host: pull the event name out with sed.
event=$(printf '%s\n' "$envelope" | sed -n 's/^{"event":"\([a-z0-9_]*\)".*/\1/p')
bytes=$(printf '%s' "$envelope" | wc -c)

printf 'audit: %s event=%s envelope_bytes=%s pid=%s\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${event:-?}" "$bytes" "$$" >&2

echo '{"action":"allow"}'
