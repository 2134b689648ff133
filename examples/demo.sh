#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh — fire the example hooks through `hooksupd fire` and show what
# each decision looks like. Run it from anywhere (`make demo` does):
#
#     bash examples/demo.sh
#
# It needs Go (on PATH or in /usr/local/go/bin) and a POSIX sh; python3 is
# optional (without it the Python hook's fire is skipped). It:
#   1. builds hooksupd and the Go example hook (examples/hooks/tagger) into
#      $HOOKSUPD_DEMO_BIN (default: examples/bin);
#   2. renders examples/hooks.toml into a temporary config: the file names
#      commands under /usr/local/share/hooksupd/examples, and the demo
#      substitutes the absolute path of this checkout (and the bin dir);
#   3. makes sure the spawn policy accepts the hook files (executable, not
#      group- or world-writable);
#   4. runs `hooksupd check`, then fires events showing allow, modify,
#      deny (exit 3), ask_user (exit 4), a namespace-scoped hook, a daemon
#      hook and the --trace output;
#   5. where the caps can be enforced (cgroups), starts `hooksupd serve`
#      with examples/caps.toml and fires hooks that hit them: one runs out
#      of memory, one forks past its pids cap, one hangs with a grandchild.
#      For each it shows what the caller gets (decision, trace, fire id)
#      and what the operator sees (the service's log line for that fire
#      id, `hooksupd status`), and that nothing of the hung tree is left.
set -euo pipefail

EXAMPLES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(dirname "$EXAMPLES")
BIN=${HOOKSUPD_DEMO_BIN:-$EXAMPLES/bin}
PLACEHOLDER=/usr/local/share/hooksupd/examples
# Hooks get a fixed PATH (not the caller's): this is where their
# "#!/usr/bin/env python3" looks.
HOOK_PATH=/usr/local/bin:/usr/bin:/bin

if [[ -t 1 ]]; then
	B=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' YELLOW=$'\e[33m' R=$'\e[0m'
else
	B='' DIM='' GREEN='' RED='' YELLOW='' R=''
fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$R"; }
note() { printf '%s   %s%s\n' "$DIM" "$*" "$R"; }

GO=$(command -v go || true)
[[ -n $GO ]] || GO=/usr/local/go/bin/go
if [[ ! -x $GO ]]; then
	echo "demo: Go is needed to build hooksupd (looked on PATH and in /usr/local/go/bin)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hooksupd-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say "build hooksupd and the Go example hook into $BIN"
mkdir -p "$BIN"
(cd "$ROOT" && "$GO" build -o "$BIN/hooksupd" ./cmd/hooksupd)
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -o "$BIN/tagger" ./examples/hooks/tagger)
HOOKSUPD=$BIN/hooksupd
note "$("$HOOKSUPD" version | head -n1)"

say "render examples/hooks.toml with this checkout's paths"
CONFIG=$WORK/hooks.toml
# Escape the replacement for sed (\, & and the | delimiter).
sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
sed -e "s|$PLACEHOLDER/bin/|$(sed_escape "$BIN")/|g" \
	-e "s|$PLACEHOLDER/|$(sed_escape "$EXAMPLES")/|g" \
	"$EXAMPLES/hooks.toml" >"$CONFIG"
note "$CONFIG:"
grep -E '^(command|args) = ' "$CONFIG" | sed 's/^/     /'

# The spawn policy refuses a program anyone but its owner could replace.
# The demo config turns strict_modes off (a checkout under a home or temp
# dir fails its parent-directory rule), but the hook files themselves must
# be executable and not group- or world-writable, as they would have to be
# in production.
for f in "$EXAMPLES"/hooks/*.sh "$EXAMPLES"/hooks/*.py "$BIN/tagger"; do
	if [[ ! -x $f ]] || [[ -n $(find "$f" -perm /022 2>/dev/null) ]]; then
		note "fixing mode of $f (executable, not group/world-writable)"
		chmod 0755 "$f"
	fi
done

HAVE_PYTHON=1
if ! PATH=$HOOK_PATH command -v python3 >/dev/null 2>&1; then
	HAVE_PYTHON=0
fi

say "hooksupd check"
printf '%s$ hooksupd check -c %s%s\n' "$DIM" "$CONFIG" "$R"
"$HOOKSUPD" check -c "$CONFIG"

# fire EXPECTED_EXIT TITLE PAYLOAD ARGS... : run one fire and print it.
FAILED=0
fire() {
	local want=$1 title=$2 payload=$3
	shift 3
	say "$title"
	printf "%s\$ echo '%s' | hooksupd fire %s%s\n" "$DIM" "$payload" "$*" "$R"
	local code=0
	printf '%s' "$payload" | "$HOOKSUPD" fire -c "$CONFIG" "$@" >"$WORK/out" 2>"$WORK/err" || code=$?
	if [[ -s $WORK/out ]]; then
		if command -v python3 >/dev/null 2>&1; then
			python3 -m json.tool <"$WORK/out" | sed 's/^/   /'
		else
			sed 's/^/   /' "$WORK/out"
		fi
	fi
	if [[ -s $WORK/err ]]; then
		note "stderr (hooksupd's log, with the hooks' redacted stderr):"
		sed 's/^/     | /' "$WORK/err"
	fi
	local meaning
	case $code in
	0) meaning="allow or modify" ;;
	3) meaning="deny" ;;
	4) meaning="ask_user" ;;
	2) meaning="usage or config error" ;;
	*) meaning="error" ;;
	esac
	local color=$GREEN
	[[ $code == 3 ]] && color=$RED
	[[ $code == 4 ]] && color=$YELLOW
	printf '   %s-> exit %d (%s)%s\n' "$color" "$code" "$meaning" "$R"
	if [[ $code != "$want" ]]; then
		printf '   %sunexpected: wanted exit %s%s\n' "$RED" "$want" "$R"
		FAILED=1
	fi
}

fire 0 "allow + modify: the tagger adds a tag, the audit hook logs and allows" \
	'{"namespace":"notes","title":"groceries","content":"milk, eggs","tags":["home"]}' pre_store

fire 3 "deny: deny-secrets (priority 1000) refuses; the chain stops there" \
	'{"namespace":"notes","title":"wifi","content":"the password is hunter2"}' pre_store

if ((HAVE_PYTHON)); then
	fire 4 "ask_user: confirm_delete.py asks before deleting" '{"id":"mem-42"}' pre_delete
	fire 0 "allow: confirm_delete.py lets scratch memories go without asking" \
		'{"id":"mem-43","tags":["scratch"]}' pre_delete
else
	say "ask_user: skipped"
	note "python3 is not installed (looked in $HOOK_PATH), so the Python hook cannot run here."
	note "Install it (apt-get install python3) and re-run to see an ask_user result (exit 4)."
fi

fire 0 "namespace-scoped: prod-freeze does not fire for dev/scratch" \
	'{"id":"mem-7","from_tier":"mid","to_tier":"long"}' -n dev/scratch --trace pre_promote
note "The trace is empty: prod-freeze is scoped to prod/*, so for dev/scratch no hook ran."

fire 3 "namespace-scoped: prod-freeze fires for prod/api and denies" \
	'{"id":"mem-7","from_tier":"mid","to_tier":"long"}' -n prod/api --trace pre_promote

fire 0 "daemon mode + --trace: recall-counter answers from a long-lived child" \
	'{"query":"what did I buy","memories":[]}' --trace post_recall

fire 0 "--trace with hook stderr: every hook of the pre_store chain, in order, with timings" \
	'{"namespace":"notes","title":"ok","content":"nothing secret","tags":["reviewed"]}' \
	--trace --log-level debug pre_store

# ---------------------------------------------------------------------------
# Part 2: caps being hit, through a running service.
CAPS=$WORK/caps.toml
sed -e "s|$PLACEHOLDER/|$(sed_escape "$EXAMPLES")/|g" "$EXAMPLES/caps.toml" >"$CAPS"
for f in "$EXAMPLES"/hooks/memory-hog.sh "$EXAMPLES"/hooks/fork-bomb.sh "$EXAMPLES"/hooks/stuck.sh; do
	[[ -x $f && -z $(find "$f" -perm /022 2>/dev/null) ]] || chmod 0755 "$f"
done
say "caps: can this host enforce them?"
printf '%s$ hooksupd check -c %s%s\n' "$DIM" "$CAPS" "$R"
if ! "$HOOKSUPD" check -c "$CAPS" >"$WORK/caps-check" 2>&1; then
	sed 's/^/   /' "$WORK/caps-check" | head -n 12
	note "This host cannot enforce memory or task limits (no usable cgroups), so the"
	note "hooks that hit them are not run. On Linux as root (or with a delegated"
	note "cgroup, e.g. under systemd) this part shows an OOM kill, a fork past the"
	note "pids cap and a timeout that kills a grandchild."
else
	sed -n '/^backend/,/^$/p' "$WORK/caps-check" | sed 's/^/   /'
	SOCK=$WORK/hooksupd.sock
	SERVE_LOG=$WORK/serve.log
	say "start the service: hooksupd serve -c caps.toml --socket $SOCK"
	"$HOOKSUPD" serve -c "$CAPS" --socket "$SOCK" >"$SERVE_LOG" 2>&1 &
	SERVE_PID=$!
	trap 'kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
	for _ in $(seq 100); do
		"$HOOKSUPD" ping --socket "$SOCK" >/dev/null 2>&1 && break
		sleep 0.1
	done
	note "$("$HOOKSUPD" ping --socket "$SOCK")"

	# capfire EXPECTED_EXIT TITLE EVENT: fire through the service, show the
	# caller's view and the operator's log lines for that fire id.
	capfire() {
		local want=$1 title=$2 event=$3 code=0
		say "$title"
		printf "%s\$ hooksupd fire --socket \$SOCK --trace %s </dev/null%s\n" "$DIM" "$event" "$R"
		"$HOOKSUPD" fire --socket "$SOCK" --trace "$event" </dev/null >"$WORK/out" 2>"$WORK/err" || code=$?
		note "the caller gets (exit $code):"
		sed 's/^/     /' "$WORK/out" "$WORK/err"
		local id
		id=$(sed -n 's/.*"fire_id":"\([^"]*\)".*/\1/p' "$WORK/out")
		note "the operator sees, in the service's log (journalctl FIRE_ID=$id under systemd):"
		for _ in $(seq 20); do grep -q "fire_id=$id " "$SERVE_LOG" && break; sleep 0.1; done
		grep -F "fire_id=$id " "$SERVE_LOG" | sed 's/^/     | /'
		if [[ $code != "$want" ]]; then
			printf '   %sunexpected: wanted exit %s%s\n' "$RED" "$want" "$R"
			FAILED=1
		fi
	}
	capfire 3 "out of memory: memory-hog needs 256 MiB under a 32 MiB limit (fail_mode closed)" pre_consolidate
	capfire 0 "past the pids cap: fork-bomb starts 64 sleeps under pids_max = 8 (fail_mode open)" pre_reflect
	capfire 3 "timeout with a grandchild: stuck hangs 98 s, its child's child 97 s; timeout 1 s" pre_compaction
	if grep -ls 'sleep 9[7]' /proc/[0-9]*/cmdline >/dev/null 2>&1; then
		printf '   %sa process of the stuck hook is still running%s\n' "$RED" "$R"
		FAILED=1
	else
		note "no process of stuck's tree is left: the grandchild (sleep 97) was killed with it."
	fi

	say "hooksupd status: which hook is failing or eating memory, since when, which fire"
	printf '%s$ hooksupd status --socket $SOCK%s\n' "$DIM" "$R"
	"$HOOKSUPD" status --socket "$SOCK" | sed -n '1,/^backend /p' | sed '$d' | sed 's/^/   /'

	say "stop the service (SIGTERM)"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || true
	trap 'rm -rf "$WORK"' EXIT
	tail -n 1 "$SERVE_LOG" | sed 's/^/     | /'
	if [[ -e $SOCK || -e $SOCK.lock ]]; then
		printf '   %sthe socket or its lock file is left behind%s\n' "$RED" "$R"
		FAILED=1
	else
		note "socket and lock file removed."
	fi
fi

say "done"
if ((FAILED)); then
	echo "demo: some fires did not give the expected exit status (see above)" >&2
	exit 1
fi
note "Every fire ran its hooks as sandboxed children and removed them (and their cgroups) on exit."
