#!/usr/bin/env bash
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
#   5. with the Linux backend (root, cgroups), fires examples/caps.toml:
#      hooks that hit their memory, pids and time caps, and what the
#      caller and the log see.
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

# The caps: hooks gone wrong, each stopped by the kernel inside its own
# group. They need the Linux backend (root and cgroups); elsewhere
# caps.toml is refused at load, naming the limit.
CAPS=$WORK/caps.toml
sed -e "s|$PLACEHOLDER/|$(sed_escape "$EXAMPLES")/|g" "$EXAMPLES/caps.toml" >"$CAPS"
say "caps: hooks that run out of memory, fork past their pids cap, and hang with an escaped grandchild"
if "$HOOKSUPD" check -c "$CAPS" >"$WORK/caps-check" 2>&1; then
	grep -E '^  [0-9]+\. |limits ' "$WORK/caps-check" | sed 's/^/   /'
	CONFIG=$CAPS # fire() fires against $CONFIG
	fire 3 "memory_max: memory-hog buffers 512M under a 32M cap; the kernel OOM-kills it in its group (fail_mode closed: deny 503)" \
		'{}' --trace demo_memory
	fire 0 "pids_max: fork-flood tries 50 background processes under a cap of 8; the 8th fork fails (fail_mode open: allow)" \
		'{}' --trace demo_pids
	fire 3 "timeout: hang never answers and leaves a setsid grandchild; at 500 ms the whole tree is killed (fail_mode closed: deny 503)" \
		'{}' --trace demo_timeout
	if pgrep -f 'sleep 3017' >/dev/null 2>&1; then
		printf '   %sa process of the hang hook survived its fire%s\n' "$RED" "$R"
		FAILED=1
	else
		note "No process of the hang hook's tree is left (pgrep -f 'sleep 3017' finds nothing): the escapee died with its group."
	fi
else
	note "skipped: the caps need the Linux backend with cgroups (run as root on Linux); check says:"
	sed 's/^/     | /' "$WORK/caps-check" | tail -n 5
fi

say "done"
if ((FAILED)); then
	echo "demo: some fires did not give the expected exit status (see above)" >&2
	exit 1
fi
note "Every fire ran its hooks as sandboxed children and removed them (and their cgroups) on exit."
