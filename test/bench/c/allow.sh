#!/bin/sh
# Exec-mode benchmark hook in /bin/sh: read stdin to EOF, answer allow.
cat >/dev/null
echo '{"action":"allow"}'
