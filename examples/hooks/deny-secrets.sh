#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# deny-secrets.sh — an exec-mode policy hook: refuse to store anything
# that looks like it contains a password.
#
# Decisions are JSON objects with an "action":
#   {"action":"allow"}
#   {"action":"deny","reason":"...","code":403}   (code defaults to 403)
# Run it with fail_mode = "closed" (see hooks.toml): if this hook crashes
# or times out, the store is denied (503) instead of slipping through.
set -u

IFS= read -r envelope || true

# A deliberately simple check on the raw envelope; a real policy would
# parse the payload (see the Go and Python examples).
case $(printf '%s' "$envelope" | tr '[:upper:]' '[:lower:]') in
*password*)
	echo "deny-secrets: refusing a payload that mentions a password" >&2
	echo '{"action":"deny","reason":"content looks like it contains a password","code":422}'
	;;
*)
	echo '{"action":"allow"}'
	;;
esac
