#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# check.sh: the systemd integration test of the Debian package, run inside
# the VM by hooksupd-vmtest.service: install, use, reload, upgrade and purge
# hooksupd as an admin would. Every result goes to the console as a
# "SYSTEMD-TEST:" line; the last line is SYSTEMD-TEST-EXIT=<number of
# failed checks>, then the VM powers off.
set -u

SOCK=/run/hooksupd/hooksupd.sock
UNIT_CG=/sys/fs/cgroup/system.slice/hooksupd.service
CONF=/etc/hooksupd/hooks.toml
SHARE=/usr/local/lib/hooksupd-vmtest
failed=0
total=0

log() { echo "SYSTEMD-TEST: $*"; }
pass() {
	total=$((total + 1))
	log "ok   $*"
}
fail() {
	total=$((total + 1))
	failed=$((failed + 1))
	log "FAIL $*"
}
# check DESCRIPTION COMMAND...: one check.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS >= end)) && return 1
		sleep 0.2
	done
}
elapsed() { awk '{printf "%.1fs", $1}' /proc/uptime; }

# req LINE...: send request lines on one connection, print the replies.
req() { printf '%s\n' "$@" | nc -U -N -w 20 "$SOCK"; }
has() { grep -q -- "$2" <<<"$1"; }
lacks() { ! grep -Eiq -- "$2" <<<"$1"; }
active() { systemctl is-active -q "$1"; }
inactive() { ! systemctl is-active -q "$1"; }
gone() { [[ ! -d /proc/$1 ]]; }
alive() { [[ -d /proc/$1 ]]; }

# hook_pid NAME: the pid of a daemon hook's child, from `hooksupd status`.
hook_pid() {
	hooksupd status --socket "$SOCK" | awk -v h="$1" '$1 == h && match($0, /pid [0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4) }'
}
# journal_since CURSOR: hooksupd's journal after a cursor.
journal_since() { journalctl -q -u hooksupd --no-pager --after-cursor="$1"; }
cursor() { journalctl -q -u hooksupd -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'; }
# logged_since CURSOR TEXT: hooksupd logged TEXT after CURSOR.
logged_since() { journal_since "$1" | grep -qF -- "$2"; }
# no_hook_process: no process runs a hook program. [eg] keeps the pattern
# from matching grep's own command line.
no_hook_process() { ! grep -ls '/usr/local/lib/hooksupd/[eg]' /proc/[0-9]*/cmdline; }

# shellcheck source=/dev/null
. "$SHARE/versions" # VER_OLD, VER_NEW (package), APP_OLD, APP_NEW (hooksupd version)
main_pid() { systemctl show -p MainPID --value hooksupd.service; }
pkg_status() { dpkg-query -W -f='${db:Status-Abbrev}' hooksupd 2>/dev/null; }
# dpkg_do ARGS...: run dpkg, its output on the console.
dpkg_do() {
	local rc=0
	DEBIAN_FRONTEND=noninteractive dpkg --force-confold "$@" >/tmp/dpkg.log 2>&1 || rc=$?
	sed 's/^/SYSTEMD-TEST:   dpkg: /' /tmp/dpkg.log
	return $rc
}

log "start at uptime $(elapsed), kernel $(uname -r), $(systemctl --version | head -n1)"

# 0. dpkg -i: the package installs, enables and starts the service with the
#    packaged configuration.
check "no hooksupd before the test" test ! -e /usr/bin/hooksupd
check "dpkg -i hooksupd $VER_OLD" dpkg_do -i "$SHARE/old.deb"
check "package installed ($(pkg_status))" test "$(pkg_status)" = "ii "
check "hooksupd.service is enabled" systemctl is-enabled -q hooksupd.service
check "hooksupd.service is started" wait_until 120 active hooksupd.service
check "the packaged hooks.toml is a conffile" grep -qx ' /etc/hooksupd/hooks.toml [0-9a-f]*' \
	<<<"$(dpkg-query -W -f='${Conffiles}\n' hooksupd)"
check "system group hooksupd exists" getent group hooksupd
check "socket belongs to group hooksupd" test "$(stat -c %G "$SOCK" 2>/dev/null)" = hooksupd
r=$(req '{"id":1,"op":"fire","event":"pre_store","payload":{"content":"hello"}}')
check "a fire through the socket is answered by the packaged config" has "$r" '{"id":1,"decision":"allow"}'
check "man page installed" test -f /usr/share/man/man1/hooksupd.1.gz
check "bash completion installed" test -f /usr/share/bash-completion/completions/hooksupd
check "hooksupd version is $APP_OLD" has "$(hooksupd version)" "$APP_OLD"

# The admin's configuration: the test hooks. A restart starts its daemons.
install -m 0644 "$SHARE/hooks.toml" "$CONF"
systemctl restart hooksupd.service

# 1. Readiness: Type=notify, READY=1 once the socket listens and the daemon
#    hooks run.
check "hooksupd.service becomes active" wait_until 120 active hooksupd.service
log "hooksupd active at uptime $(elapsed)"
check "socket exists with mode 0660" test "$(stat -c %a "$SOCK" 2>/dev/null)" = 660
r=$(req '{"id":1,"op":"ping"}')
check "ping answers" has "$r" '"ok":true'
main=$(systemctl show -p MainPID --value hooksupd.service)
check "hooksupd runs in the supervisor leaf of its delegated cgroup ($(cat /proc/"$main"/cgroup))" \
	grep -qx '0::/system.slice/hooksupd.service/supervisor' "/proc/$main/cgroup"
check "STATUS= is set ($(systemctl show -p StatusText --value hooksupd.service))" \
	has "$(systemctl show -p StatusText --value hooksupd.service)" "hooks"

# Daemon hooks are prestarted: their children run before any fire.
keep=$(hook_pid keep)
drop=$(hook_pid drop)
log "daemon pids: keep=$keep drop=$drop"
check "daemon hooks were started before READY=1" test -n "$keep" -a -n "$drop"

# 2. Fires over the socket; exec hook children are capped in their groups.
r=$(req '{"id":"a","op":"fire","event":"pre_store","payload":{"content":"hello"}}' \
	'{"id":"b","op":"fire","event":"pre_store","payload":{"content":"my secret"}}' \
	'{"id":"c","op":"fire","event":"post_recall","payload":{}}' \
	'{"id":"d","op":"fire","event":"nope"}')
log "replies: $(tr '\n' ' ' <<<"$r")"
check "exec hook allows" has "$r" '{"id":"a","decision":"allow"}'
check "exec hook denies" has "$r" '{"id":"b","decision":"deny","reason":"looks like a secret","code":403}'
check "daemon hooks answer" has "$r" '{"id":"c","decision":"allow"}'
check "unknown event is an error reply" has "$r" '{"id":"d","error":{"code":"unknown_event"'

# 2b. Native journal logging: priorities and fields. A failing exec hook
#     (guard exits 3 on "crash"; fail_mode closed) logs a warning whose
#     FIRE_ID is the one of the traced reply.
r=$(req '{"id":"e","op":"fire","event":"pre_store","payload":{"content":"crash"},"trace":true}')
log "failing fire: $r"
fid=$(sed -n 's/.*"fire_id":"\([^"]*\)".*/\1/p' <<<"$r")
check "traced reply carries a fire_id ($fid)" test -n "$fid"
check "a failing hook is denied under fail_mode=closed" has "$r" '"decision":"deny"'
jw() { journalctl -q -b -u hooksupd --no-pager "$@"; }
check "journalctl -p warning finds the hook's failure" wait_until 10 eval 'jw -p warning | grep -q "chain hook errored"'
check "journalctl HOOK=guard finds the guard's lines" wait_until 10 eval 'jw HOOK=guard | grep -q "hook answered"'
check "journalctl FIRE_ID= finds the failed fire" wait_until 10 eval "jw FIRE_ID=$fid | grep -q 'chain hook errored'"
v=$(jw FIRE_ID="$fid" -o verbose)
check "the entry has PRIORITY=4, OUTCOME=exit, DURATION_USEC and CHILD_PID" \
	eval 'has "$v" "PRIORITY=4" && has "$v" "OUTCOME=exit" && has "$v" "DURATION_USEC=" && has "$v" "CHILD_PID="'
jw FIRE_ID="$fid" | sed 's/^/SYSTEMD-TEST:      /'
jw -p warning -n 3 -o verbose FIRE_ID="$fid" | grep -E '^ +(PRIORITY|HOOK|EVENT|FIRE_ID|OUTCOME|DURATION_USEC|CHILD_PID|ERR)=' | sed 's/^/SYSTEMD-TEST:      /'

# 3. Daemon hook children live in the delegated subtree, with their limits.
keep_cg=$(sed -n 's/^0:://p' "/proc/$keep/cgroup" 2>/dev/null)
log "keep's cgroup: $keep_cg"
check "daemon child is in the delegated subtree" has "$keep_cg" '^/system.slice/hooksupd.service/hooksupd/'
check "daemon child has its memory limit (memory.max)" \
	test "$(cat "/sys/fs/cgroup$keep_cg/memory.max" 2>/dev/null)" = 67108864
check "daemon child runs as nobody (user =)" test "$(stat -c %u "/proc/$keep")" = 65534
hooksupd status --socket "$SOCK" | sed 's/^/SYSTEMD-TEST:      /'

# 4. The metrics endpoint.
metrics=$(exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3)
check "metrics: per-hook fires" has "$metrics" 'hooksupd_hook_fires_total{event="pre_store",hook="guard",outcome="deny"} 1'
check "metrics: daemon memory" has "$metrics" 'hooksupd_hook_daemon_memory_bytes{event="post_recall",hook="keep"}'

# 5. Reload with an invalid file: keeps running the old config, logs every error.
cp "$CONF" /tmp/hooks.good
c=$(cursor)
cp "$SHARE/hooks-bad.toml" "$CONF"
check "systemctl reload with an invalid file returns" systemctl reload hooksupd.service
check "still active after an invalid reload" active hooksupd.service
check "the reload failure is logged" wait_until 10 logged_since "$c" "reload failed; still running the previous configuration"
j=$(journal_since "$c")
check "every config error is logged" test "$(grep -c "reload: configuration error" <<<"$j")" -ge 3
r=$(req '{"id":1,"op":"fire","event":"pre_store","payload":{"content":"secret"}}')
check "old config still serves" has "$r" '"decision":"deny"'
check "daemons untouched by a failed reload" test "$(hook_pid keep)" = "$keep" -a "$(hook_pid drop)" = "$drop"

# 6. Reload with "drop" removed: its child stops, "keep" keeps its child.
sed '/^# daemon mode; removed by the reload./,$d' /tmp/hooks.good >"$CONF"
t0=$SECONDS
check "systemctl reload succeeds" systemctl reload hooksupd.service
check "the unit stays active" active hooksupd.service
check "removed daemon hook's process is gone" wait_until 20 gone "$drop"
log "removed daemon stopped $((SECONDS - t0))s after the reload"
check "unchanged daemon hook keeps its pid" test "$(hook_pid keep)" = "$keep"
r=$(req '{"id":1,"op":"reload"}')
check "reload op answers ok" has "$r" '"ok":true,"hooks":2'

# 7. The watchdog is fed.
check "watchdog keep-alives arrive" test "$(systemctl show -p WatchdogTimestampMonotonic --value hooksupd.service)" != 0

# 8. Stop: no hook process and no cgroup left, nothing for systemd to kill.
c=$(cursor)
groups=$(find "$UNIT_CG" -mindepth 1 -type d | tr '\n' ' ')
log "groups before stop: $groups"
t0=$SECONDS
systemctl stop hooksupd.service
log "stop took $((SECONDS - t0))s"
check "unit inactive after stop" inactive hooksupd.service
check "daemon child gone after stop" gone "$keep"
check "no hook process left" no_hook_process
check "unit cgroup removed" test ! -e "$UNIT_CG"
j=$(journal_since "$c")
check "clean exit logged" has "$j" "hooksupd stopped"
check "systemd found no leftover process to kill" lacks "$j" "left-over process|remains running|killing process"
check "socket removed at exit" test ! -e "$SOCK"
check "socket lock file removed at exit" test ! -e "$SOCK.lock"
cp /tmp/hooks.good "$CONF"

# 9. Socket activation: systemd owns the socket and starts the service on
#    the first connection; the socket survives service restarts.
c=$(cursor)
systemctl start hooksupd.socket
check "socket unit listening" active hooksupd.socket
check "service not started yet" inactive hooksupd.service
t0=$(elapsed)
r=$(req '{"id":1,"op":"ping"}' '{"id":2,"op":"fire","event":"pre_store","payload":{"content":"x"}}')
log "first connection at $t0 answered at $(elapsed): $(tr '\n' ' ' <<<"$r")"
check "first connection starts the service and is answered" has "$r" '{"id":2,"decision":"allow"}'
check "service active after activation" active hooksupd.service
check "the passed socket is used" logged_since "$c" "socket activation: using the socket systemd passed"
systemctl stop hooksupd.service
check "socket file stays while the service is stopped" test -S "$SOCK"
r=$(req '{"id":3,"op":"ping"}')
check "next connection starts it again" has "$r" '"ok":true'
main=$(systemctl show -p MainPID --value hooksupd.service)
check "activated service in its supervisor leaf" grep -qx '0::/system.slice/hooksupd.service/supervisor' "/proc/$main/cgroup"
systemctl stop hooksupd.socket hooksupd.service

# For the record (not checks): what systemd says about the units, e.g. the
# keys this systemd version does not know.
systemd-analyze verify /lib/systemd/system/hooksupd.service /lib/systemd/system/hooksupd.socket 2>&1 |
	sed 's/^/SYSTEMD-TEST: info: verify: /'
journalctl -b -q -p warning --no-pager | grep -E 'hooksupd(\.service|\.socket|\[[0-9]+\])' | grep -v 'check.sh\[' | head -n 20 |
	sed 's/^/SYSTEMD-TEST: info: journal: /'

# 10. Upgrade to the rebuilt package: the edited conffile is kept, the
#     running service restarts on the new binary and its daemon hooks come
#     back as new processes; nothing of the old instance is left.
systemctl start hooksupd.service
wait_until 60 active hooksupd.service
wait_until 20 test -n "$(hook_pid keep)"
keep=$(hook_pid keep)
main=$(main_pid)
log "before the upgrade: main $main, keep $keep"
c=$(cursor)
check "dpkg -i hooksupd $VER_NEW (upgrade)" dpkg_do -i "$SHARE/new.deb"
check "package version is $VER_NEW" test "$(dpkg-query -W -f='${Version}' hooksupd)" = "$VER_NEW"
check "hooksupd version is $APP_NEW" has "$(hooksupd version)" "$APP_NEW"
check "the edited hooks.toml is kept" cmp -s "$SHARE/hooks.toml" "$CONF"
check "no .dpkg-dist or .dpkg-new beside it" test ! -e "$CONF.dpkg-dist" -a ! -e "$CONF.dpkg-new"
check "still enabled after the upgrade" systemctl is-enabled -q hooksupd.service
check "active after the upgrade" wait_until 60 active hooksupd.service
new_main=$(main_pid)
check "restarted: new main pid ($main -> $new_main)" test "$new_main" != "$main" -a "$new_main" != 0
check "the new main runs the new binary" test "$(readlink "/proc/$new_main/exe")" = /usr/bin/hooksupd
check "the old daemon child is gone" wait_until 20 gone "$keep"
check "the daemon hook runs again, as a new process" wait_until 20 test -n "$(hook_pid keep)"
check "... and is not the old one" test "$(hook_pid keep)" != "$keep"
r=$(req '{"id":1,"op":"fire","event":"pre_store","payload":{"content":"my secret"}}' '{"id":2,"op":"fire","event":"post_recall","payload":{}}')
check "fires after the upgrade" has "$r" '{"id":1,"decision":"deny","reason":"looks like a secret","code":403}'
check "daemon hook answers after the upgrade" has "$r" '{"id":2,"decision":"allow"}'
j=$(journal_since "$c")
check "the old instance stopped cleanly" has "$j" "hooksupd stopped"
check "systemd found no leftover process during the upgrade" lacks "$j" "left-over process|remains running|killing process"

# 11. dpkg --purge: nothing of hooksupd is left, other than what this test
#     brought (its unit, its hooks and the .deb files).
dpkg -L hooksupd >/tmp/pkg.files
hook_running() { ! no_hook_process >/dev/null; }
check "a daemon hook runs before the purge (the purge must stop it)" hook_running
log "$(wc -l </tmp/pkg.files) paths in the package"
check "dpkg --purge hooksupd" dpkg_do --purge hooksupd
check "package gone ($(pkg_status))" test -z "$(pkg_status | tr -d ' ')" -o "$(pkg_status | tr -d ' ')" = un
check "hooksupd.service inactive" inactive hooksupd.service
left=$(while read -r f; do [[ -d $f ]] || [[ ! -e $f && ! -L $f ]] || echo "$f"; done </tmp/pkg.files)
check "no file of the package left${left:+: $left}" test -z "$left"
left=$(find / /run -xdev \( -path /proc -o -path /sys -o -path /dev -o -path "$SHARE" -o -path /usr/local/lib/hooksupd \) -prune -o \
	-name '*hooksupd*' ! -name '*hooksupd-vmtest*' -print 2>/dev/null | sort -u | tr '\n' ' ')
check "no path named hooksupd left${left:+: $left}" test -z "$left"
check "no hooksupd unit known to systemd ($(systemctl show -p LoadState --value hooksupd.service))" \
	test "$(systemctl show -p LoadState --value hooksupd.service)" = not-found -a \
	"$(systemctl show -p LoadState --value hooksupd.socket)" = not-found
check "no hooksupd user or group" bash -c '! getent passwd hooksupd && ! getent group hooksupd'
left=$(find /sys/fs/cgroup -name '*hooksupd*' ! -name '*hooksupd-vmtest*' 2>/dev/null | tr '\n' ' ')
check "no hooksupd cgroup left${left:+: $left}" test -z "$left"
left=$(for p in /proc/[0-9]*; do
	e=$(readlink "$p/exe" 2>/dev/null) || continue
	[[ $e == *hooksupd* && $e != *vmtest* ]] && echo "${p#/proc/}:$e"
done | tr '\n' ' ')
check "no hooksupd process left${left:+: $left}" test -z "$left"
check "no hook process left after the purge" no_hook_process

if ((failed > 0)); then
	log "journal of hooksupd:"
	journalctl -u hooksupd -b --no-pager | tail -n 80 | sed 's/^/SYSTEMD-TEST:   /'
fi
log "summary: $((total - failed))/$total checks passed, uptime $(elapsed)"
echo "SYSTEMD-TEST-EXIT=$failed"
sync
systemctl poweroff -ff
