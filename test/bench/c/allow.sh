#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Exec-mode benchmark hook in /bin/sh: read stdin to EOF, answer allow.
cat >/dev/null
echo '{"action":"allow"}'
