#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# stuck.sh: a hook that hangs, with a grandchild that tries to outlive it
# (a background shell running sleep). At timeout_ms hooksupd kills the
# hook's whole tree, grandchild included, and answers by fail_mode.
cat >/dev/null
sh -c 'sleep 97' &
sleep 98
echo '{"action":"allow"}'
