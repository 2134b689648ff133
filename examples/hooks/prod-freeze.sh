#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# prod-freeze.sh — a namespace-scoped policy hook.
#
# hooks.toml binds it with namespace = "prod/*", so hooksupd only fires it
# when one of the fire's namespaces is "prod" or lies under "prod/"; for
# any other namespace (or a fire without one) it never runs. The script
# itself therefore needs no namespace logic: it just says no.
set -u

IFS= read -r _ || true  # the request is not needed: the scope is the check
echo "prod-freeze: promotion in a frozen namespace refused" >&2
echo '{"action":"deny","reason":"prod/* is frozen: promotions need a change ticket","code":423}'
