// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hk is a hook named "audit" on lines 1-5; the case's own lines start at
// line 6.
const hk = "[[hook]]\nname = \"audit\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n"

// pt supplies the other required keys on lines 6-7; extras start at 8.
const pt = "priority = 1\ntimeout_ms = 100\n"

// Every error path of the loader, with its exact text.
func TestParseErrors(t *testing.T) {
	long := strings.Repeat("n", 65)
	cases := []struct {
		name string
		src  string
		want []string
	}{
		// The seed's keys.
		{"timeout over max", hk + "priority = 1\n  timeout_ms = 45000\n",
			[]string{`hooks.toml:7:3: hook "audit": timeout_ms: 45000 exceeds the maximum 30000`}},
		{"timeout zero", hk + "priority = 1\ntimeout_ms = 0\n",
			[]string{`hooks.toml:7:1: hook "audit": timeout_ms: 0 would time out at once; must be 1..30000`}},
		{"timeout negative", hk + "priority = 1\ntimeout_ms = -1\n",
			[]string{`hooks.toml:7:1: hook "audit": timeout_ms: -1 is negative; must be 1..30000`}},
		{"timeout string", hk + "priority = 1\ntimeout_ms = \"100\"\n",
			[]string{`hooks.toml:7:1: hook "audit": timeout_ms: must be an integer, not a string`}},
		{"timeout float", hk + "priority = 1\ntimeout_ms = 1.5\n",
			[]string{`hooks.toml:7:1: hook "audit": timeout_ms: must be an integer, not a float`}},
		{"timeout missing", hk + "priority = 1\n",
			[]string{`hooks.toml:1:1: hook "audit": timeout_ms: required key is missing`}},
		{"priority missing", hk + "timeout_ms = 1\n",
			[]string{`hooks.toml:1:1: hook "audit": priority: required key is missing (higher runs first; ` +
				`the docs suggest 1000+ for security, 100-999 for enrichment, 1-99 for observability)`}},
		{"priority over i32", hk + "priority = 2147483648\ntimeout_ms = 1\n",
			[]string{`hooks.toml:6:1: hook "audit": priority: 2147483648 does not fit a 32-bit signed integer`}},
		{"priority under i32", hk + "priority = -2147483649\ntimeout_ms = 1\n",
			[]string{`hooks.toml:6:1: hook "audit": priority: -2147483649 does not fit a 32-bit signed integer`}},
		{"priority bool", hk + "priority = true\ntimeout_ms = 1\n",
			[]string{`hooks.toml:6:1: hook "audit": priority: must be an integer, not a boolean`}},
		{"event unknown near", "[[hook]]\nevent = \"pre_stor\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "pre_stor-0": event: unknown event "pre_stor" (did you mean "pre_store"?)`}},
		{"event unknown far", "[[hook]]\nevent = \"on_deploy_started\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "on_deploy_started-0": event: unknown event "on_deploy_started" (declare custom events with [[event]])`}},
		{"event removed in the seed", "[[hook]]\nevent = \"pre_archive\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "pre_archive-0": event: unknown event "pre_archive" (declare custom events with [[event]])`}},
		{"event missing", "[[hook]]\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:1:1: hook "hook-0": event: required key is missing`}},
		{"event wrong type", "[[hook]]\nevent = 3\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "hook-0": event: must be a string, not an integer`}},
		{"command missing", "[[hook]]\nevent = \"pre_store\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:1:1: hook "pre_store-0": command: required key is missing`}},
		{"command relative", "[[hook]]\nevent = \"pre_store\"\ncommand = \"hooks/audit.sh\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:3:1: hook "pre_store-0": command: "hooks/audit.sh" is not an absolute path: ` +
				`hooks run by full path only, with no PATH search and no working directory to resolve against`}},
		{"command empty", "[[hook]]\nevent = \"pre_store\"\ncommand = \"\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:3:1: hook "pre_store-0": command: must be a non-empty absolute path`}},
		{"command NUL", "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/a\\u0000b\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:3:1: hook "pre_store-0": command: must not contain a NUL byte`}},
		{"namespace missing", "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\n" + pt,
			[]string{`hooks.toml:1:1: hook "pre_store-0": namespace: required key is missing (use "*" to match all)`}},
		{"namespace blank", "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"  \"\n" + pt,
			[]string{`hooks.toml:4:1: hook "pre_store-0": namespace: must be a non-empty pattern (use "*" to match all)`}},
		{"mode unknown", hk + pt + "mode = \"fork\"\n",
			[]string{`hooks.toml:8:1: hook "audit": mode: "fork" is not one of exec, daemon`}},
		{"enabled string", hk + pt + "enabled = \"yes\"\n",
			[]string{`hooks.toml:8:1: hook "audit": enabled: must be a boolean (true or false), not a string`}},
		{"fail_mode unknown", hk + pt + "fail_mode = \"closd\"\n",
			[]string{`hooks.toml:8:1: hook "audit": fail_mode: "closd" is not one of open, closed`}},
		{"unknown key with hint", hk + pt + "  timeout = 5\n",
			[]string{`hooks.toml:8:3: hook "audit": timeout: unknown key (did you mean "timeout_ms"?)`}},
		{"unknown key", hk + pt + "cwd = \"/tmp\"\n",
			[]string{`hooks.toml:8:1: hook "audit": cwd: unknown key`}},
		{"quoted unknown key", hk + pt + "\"odd key\" = 1\n",
			[]string{`hooks.toml:8:1: hook "audit": "odd key": unknown key`}},

		// name.
		{"name slash", "[[hook]]\nname = \"a/b\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "a/b": name: "a/b" may use only A-Z a-z 0-9 . _ - (it names a cgroup directory)`}},
		{"name dotdot", "[[hook]]\nname = \"..\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "..": name: ".." is not a usable directory name`}},
		{"name empty", "[[hook]]\nname = \"\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "pre_store-0": name: must not be empty`}},
		{"name long", "[[hook]]\nname = \"" + long + "\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "` + long + `": name: "` + long + `" is 65 bytes; the maximum is 64`}},
		{"name integer", "[[hook]]\nname = 5\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:2:1: hook "pre_store-0": name: must be a string, not an integer`}},
		{"duplicate name", hk + pt + hk + pt,
			[]string{`hooks.toml:9:1: hook "audit": name: duplicate name: already used by the hook at line 1`}},
		{"duplicate default name", "[[hook]]\nname = \"pre_store-1\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt +
			"[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt,
			[]string{`hooks.toml:8:1: hook "pre_store-1": name: the default name is already used by the hook at line 1; set name`}},

		// Process keys.
		{"args element", hk + pt + "args = [\"-v\", 1, \"x\", true]\n",
			[]string{
				`hooks.toml:8:15: hook "audit": args[1]: must be a string, not an integer`,
				`hooks.toml:8:23: hook "audit": args[3]: must be a string, not a boolean`,
			}},
		{"args not array", hk + pt + "args = \"-v\"\n",
			[]string{`hooks.toml:8:1: hook "audit": args: must be an array, not a string`}},
		{"env names", hk + pt + "[hook.env]\nPATH = \"/x\"\nHOOKSUPD_TOKEN = \"y\"\n\"1BAD\" = \"z\"\nOK = 1\nGOOD = \"ok\"\n",
			[]string{
				`hooks.toml:9:1: hook "audit": env.PATH: PATH is reserved: hooksupd sets PATH and HOOKSUPD_* itself`,
				`hooks.toml:10:1: hook "audit": env.HOOKSUPD_TOKEN: HOOKSUPD_TOKEN is reserved: hooksupd sets PATH and HOOKSUPD_* itself`,
				`hooks.toml:11:1: hook "audit": env.1BAD: "1BAD" is not a valid environment variable name`,
				`hooks.toml:12:1: hook "audit": env.OK: must be a string, not an integer`,
			}},
		{"env not table", hk + pt + "env = [\"A=b\"]\n",
			[]string{`hooks.toml:8:1: hook "audit": env: must be a table, not an array`}},
		{"pass_env", hk + pt + "env = { TZ = \"UTC\" }\npass_env = [\"LANG\", \"LANG\", \"PATH\", \"TZ\", \"a-b\"]\n",
			[]string{
				`hooks.toml:9:21: hook "audit": pass_env[1]: LANG is listed twice`,
				`hooks.toml:9:29: hook "audit": pass_env[2]: PATH is reserved: hooksupd sets PATH and HOOKSUPD_* itself`,
				`hooks.toml:9:37: hook "audit": pass_env[3]: TZ is also set in env; keep one`,
				`hooks.toml:9:43: hook "audit": pass_env[4]: "a-b" is not a valid environment variable name`,
			}},
		{"dir relative", hk + pt + "dir = \"var/lib\"\n",
			[]string{`hooks.toml:8:1: hook "audit": dir: "var/lib" is not an absolute path`}},
		{"max_concurrency negative", hk + pt + "max_concurrency = -1\n",
			[]string{`hooks.toml:8:1: hook "audit": max_concurrency: must not be negative`}},
		{"max_concurrency daemon", hk + pt + "mode = \"daemon\"\nmax_concurrency = 4\n",
			[]string{`hooks.toml:9:1: hook "audit": max_concurrency: applies to exec mode only (mode is daemon): a daemon hook has one child`}},
		{"max_concurrency default daemon", "[[hook]]\nevent = \"post_recall\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt + "max_concurrency = 0\n",
			[]string{`hooks.toml:7:1: hook "post_recall-0": max_concurrency: applies to exec mode only (daemon is the default mode for post_recall): a daemon hook has one child`}},
		{"stdout zero", hk + pt + "stdout_max_bytes = 0\n",
			[]string{`hooks.toml:8:1: hook "audit": stdout_max_bytes: must be > 0`}},
		{"stdout over", hk + pt + "stdout_max_bytes = \"65M\"\n",
			[]string{`hooks.toml:8:1: hook "audit": stdout_max_bytes: 65M exceeds the maximum 64M`}},
		{"stdout decimal unit", hk + pt + "stdout_max_bytes = \"1MB\"\n",
			[]string{`hooks.toml:8:1: hook "audit": stdout_max_bytes: invalid size "1MB": use K, M, G or T (binary units), or a plain number of bytes`}},
		{"stdout bool", hk + pt + "stdout_max_bytes = true\n",
			[]string{`hooks.toml:8:1: hook "audit": stdout_max_bytes: must be a size (bytes, or a string such as "64M"), not a boolean`}},
		{"stderr over", hk + pt + "stderr_tail_bytes = \"2M\"\n",
			[]string{`hooks.toml:8:1: hook "audit": stderr_tail_bytes: 2M exceeds the maximum 1M`}},
		{"stderr zero", hk + pt + "stderr_tail_bytes = 0\n",
			[]string{`hooks.toml:8:1: hook "audit": stderr_tail_bytes: must be > 0`}},
		{"allow_uncapped int", hk + pt + "allow_uncapped = 1\n",
			[]string{`hooks.toml:8:1: hook "audit": allow_uncapped: must be a boolean (true or false), not an integer`}},
		{"user unknown", hk + pt + "user = \"no-such-user-hooksupd\"\n",
			[]string{`hooks.toml:8:1: hook "audit": user: unknown user "no-such-user-hooksupd"`}},
		{"group unknown", hk + pt + "group = \"no-such-group-hooksupd\"\n",
			[]string{`hooks.toml:8:1: hook "audit": group: unknown group "no-such-group-hooksupd"`}},
		{"uid without entry", hk + pt + "user = \"4000000000\"\n",
			[]string{`hooks.toml:8:1: hook "audit": user: uid 4000000000 has no passwd entry, so no primary group: set group too`}},
		{"user empty", hk + pt + "user = \"\"\n",
			[]string{`hooks.toml:8:1: hook "audit": user: must not be empty`}},

		// limits.
		{"limits values", hk + pt + "[hook.limits]\nmemory_max = \"512K\"\ncpu_max = \"0.5%\"\npids_max = 0\nnofile = 2\nswap_max = 0\n",
			[]string{
				`hooks.toml:9:1: hook "audit": limits.memory_max: 512K is below the minimum 1M`,
				`hooks.toml:10:1: hook "audit": limits.cpu_max: "0.5%" is out of range: want 1% to 102400%`,
				`hooks.toml:11:1: hook "audit": limits.pids_max: must be > 0`,
				`hooks.toml:12:1: hook "audit": limits.nofile: 2 is below the minimum 3`,
				`hooks.toml:13:1: hook "audit": limits.swap_max: unknown key`,
			}},
		{"limits cpu forms", hk + pt + "limits.cpu_max = 50\n" + hk + pt + "limits.cpu_max = \"half\"\n" +
			"[[hook]]\nname = \"c\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt + "limits.cpu_max = \"500/100000\"\n" +
			"[[hook]]\nname = \"d\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\nnamespace = \"*\"\n" + pt + "limits.cpu_max = \"50000/10\"\n",
			[]string{
				`hooks.toml:8:8: hook "audit": limits.cpu_max: must be a string such as "20%", "150%" or "50000/100000", not an integer`,
				`hooks.toml:10:1: hook "audit": name: duplicate name: already used by the hook at line 1`,
				`hooks.toml:16:8: hook "audit": limits.cpu_max: "half": want a percentage of one CPU ("20%") or QUOTA/PERIOD in microseconds ("50000/100000")`,
				`hooks.toml:24:8: hook "c": limits.cpu_max: "500/100000": quota must be 1000 microseconds to 1024 periods`,
				`hooks.toml:32:8: hook "d": limits.cpu_max: "50000/10": period must be 1000..1000000 microseconds`,
			}},
		{"limits memory over", hk + pt + "limits = { memory_max = \"9999999999T\" }\n",
			[]string{`hooks.toml:8:12: hook "audit": limits.memory_max: invalid size "9999999999T": too large`}},
		{"limits not table", hk + pt + "limits = 5\n",
			[]string{`hooks.toml:8:1: hook "audit": limits: must be a table, not an integer`}},
		{"limits pids over", hk + pt + "limits.pids_max = 99999999\n",
			[]string{`hooks.toml:8:8: hook "audit": limits.pids_max: 99999999 exceeds the maximum 4194304`}},

		// Top level.
		{"unknown top-level key", "hooks = []\n",
			[]string{`hooks.toml:1:1: hooks: unknown key (did you mean "hook"?)`}},
		{"hook as table", "[hook]\nevent = \"pre_store\"\n",
			[]string{`hooks.toml:1:2: hook: must be an array of tables: write [[hook]], not [hook]`}},
		{"hook element not table", "hook = [1, {}]\n",
			[]string{
				`hooks.toml:1:9: hook[0]: must be a table, not an integer`,
				`hooks.toml:1:12: hook "hook-1": event: required key is missing`,
				`hooks.toml:1:12: hook "hook-1": command: required key is missing`,
				`hooks.toml:1:12: hook "hook-1": priority: required key is missing (higher runs first; ` +
					`the docs suggest 1000+ for security, 100-999 for enrichment, 1-99 for observability)`,
				`hooks.toml:1:12: hook "hook-1": timeout_ms: required key is missing`,
				`hooks.toml:1:12: hook "hook-1": namespace: required key is missing (use "*" to match all)`,
			}},
		{"syntax error", "[[hook]]\nevent = \"pre_store\"\n  bad bad\n",
			[]string{`hooks.toml:3:7: invalid TOML: expected '.' or '=', but got 'b' instead`}},
		{"duplicate key is syntax", "[server]\nsocket = \"/a\"\nsocket = \"/b\"\n",
			[]string{`hooks.toml:3:1: invalid TOML: Key 'server.socket' has already been defined.`}},
		{"table and array of tables", "[[hook]]\n[hook]\n",
			[]string{`hooks.toml:2:2: invalid TOML: Key 'hook' has already been defined.`}},
		{"unterminated array", "x = [1,\n2,\n",
			[]string{`hooks.toml:2:3: invalid TOML: unexpected EOF; expected value`}},
		{"newline in string", "\n  s = \"abc\ndef\"\n",
			[]string{`hooks.toml:2:11: invalid TOML: strings cannot contain newlines`}},

		// [[event]].
		{"event decl errors", "[[event]]\nname = \"PreDeploy\"\ndeadline_ms = 0\nkind = \"both\"\ndefault_mode = \"forked\"\ncolour = 1\n",
			[]string{
				`hooks.toml:2:1: event[0]: name: "PreDeploy" is not a snake_case name (a-z, 0-9 and single underscores, starting with a letter)`,
				`hooks.toml:3:1: event[0]: deadline_ms: must be 1..30000`,
				`hooks.toml:4:1: event[0]: kind: "both" is not one of decision, notify`,
				`hooks.toml:5:1: event[0]: default_mode: "forked" is not one of exec, daemon`,
				`hooks.toml:6:1: event[0]: colour: unknown key`,
			}},
		{"event decl builtin and dup", "[[event]]\nname = \"pre_store\"\ndeadline_ms = 10\n[[event]]\nname = \"x_y\"\ndeadline_ms = 30001\n[[event]]\nname = \"x_y\"\ndeadline_ms = 5\n",
			[]string{
				`hooks.toml:2:1: event[0]: name: "pre_store" is a built-in event`,
				`hooks.toml:6:1: event[1]: deadline_ms: 30001 exceeds the maximum 30000`,
				`hooks.toml:8:1: event[2]: name: event "x_y" is declared twice`,
			}},
		{"event decl missing", "[[event]]\npre = true\nkind = \"notify\"\n",
			[]string{
				`hooks.toml:1:1: event[0]: name: required key is missing`,
				`hooks.toml:1:1: event[0]: deadline_ms: required key is missing (the budget of the whole chain of one fire)`,
				`hooks.toml:2:1: event[0]: pre: a notify event cannot honour modify; pre = true needs kind = "decision"`,
			}},
		{"event decl long name", "[[event]]\nname = \"" + strings.Repeat("a", 49) + "\"\ndeadline_ms = 1\n",
			[]string{`hooks.toml:2:1: event[0]: name: "` + strings.Repeat("a", 49) + `" is 49 bytes; the maximum is 48`}},

		// [enforce].
		{"enforce", "[[event]]\nname = \"ci_done\"\ndeadline_ms = 5\nkind = \"notify\"\n" +
			"[enforce]\nmode = \"on\"\nrequired_events = [\"pre_store\", \"post_store\", \"nope\", \"pre_store\", \"ci_done\", \"pre_recall_expand\"]\n",
			[]string{
				`hooks.toml:6:1: enforce: mode: "on" is not one of off, advisory, enforce`,
				`hooks.toml:7:33: enforce: required_events[1]: post_store cannot be required: only the pre-events ` + requirableList +
					` and custom decision events can (a required event's hooks must be able to block it)`,
				`hooks.toml:7:47: enforce: required_events[2]: unknown event "nope"`,
				`hooks.toml:7:55: enforce: required_events[3]: pre_store is listed twice`,
				`hooks.toml:7:68: enforce: required_events[4]: ci_done cannot be required: it is a notify event, whose hooks cannot block it`,
				`hooks.toml:7:79: enforce: required_events[5]: pre_recall_expand cannot be required: only the pre-events ` + requirableList +
					` and custom decision events can (a required event's hooks must be able to block it)`,
			}},
		{"enforce not table", "enforce = \"enforce\"\n",
			[]string{`hooks.toml:1:1: enforce: must be a table, not a string`}},

		// [policy].
		{"policy", "[policy]\nallow_commands = [\"bin/*\", \"/ok/*\"]\ndeny_commands = [\"/a/[\"]\nstrict_modes = \"no\"\n",
			[]string{
				`hooks.toml:2:19: policy: allow_commands[0]: "bin/*" must be an absolute path glob (commands are absolute paths)`,
				`hooks.toml:3:18: policy: deny_commands[0]: "/a/[" is not a valid glob: syntax error in pattern`,
				`hooks.toml:4:1: policy: strict_modes: must be a boolean (true or false), not a string`,
			}},

		// [supervisor].
		{"supervisor", "[supervisor]\nbackend = \"systemd\"\ncgroup_parent = \"hooksupd\"\ndaemon_stop_grace = \"61s\"\n",
			[]string{
				`hooks.toml:2:1: supervisor: backend: "systemd" is not one of auto, linux, portable`,
				`hooks.toml:3:1: supervisor: cgroup_parent: "hooksupd" must be an absolute, clean cgroup path such as /hooksupd.slice`,
				`hooks.toml:4:1: supervisor: daemon_stop_grace: 1m1s exceeds the maximum 1m0s`,
			}},
		{"supervisor durations", "[supervisor]\ncgroup_parent = \"/a/../b\"\ndaemon_stop_grace = \"2 s\"\n",
			[]string{
				`hooks.toml:2:1: supervisor: cgroup_parent: "/a/../b" must be an absolute, clean cgroup path such as /hooksupd.slice`,
				`hooks.toml:3:1: supervisor: daemon_stop_grace: "2 s" is not a duration (want e.g. "2s" or "500ms")`,
			}},
		{"supervisor negative and int", "[supervisor]\ndaemon_stop_grace = \"-1s\"\n[server]\ndrain_timeout = 10\n",
			[]string{
				`hooks.toml:2:1: supervisor: daemon_stop_grace: must not be negative`,
				`hooks.toml:4:1: server: drain_timeout: must be a duration string such as "2s" or "500ms", not an integer`,
			}},

		// [server].
		{"server max_inflight", "\n\n[server]\nmax_inflight = 0\n",
			[]string{`hooks.toml:4:1: server: max_inflight: must be > 0`}},
		{"server", "[server]\nsocket = \"hooksupd.sock\"\nsocket_group = \"no-such-group-hooksupd\"\nallow_uids = [-1, \"x\", 0]\n" +
			"allow_gids = 5\nmetrics_listen = \"localhost\"\nmax_line_bytes = 512\nmax_inflight_per_conn = 0\nmax_inflight = 99999999\ndrain_timeout = \"forever\"\n",
			[]string{
				`hooks.toml:2:1: server: socket: "hooksupd.sock" must be an absolute path`,
				`hooks.toml:3:1: server: socket_group: unknown group "no-such-group-hooksupd"`,
				`hooks.toml:4:15: server: allow_uids[0]: -1 is not a valid id (0..4294967294)`,
				`hooks.toml:4:19: server: allow_uids[1]: must be an integer id, not a string`,
				`hooks.toml:5:1: server: allow_gids: must be an array, not an integer`,
				`hooks.toml:6:1: server: metrics_listen: "localhost" is neither host:port nor an absolute unix socket path`,
				`hooks.toml:7:1: server: max_line_bytes: 512 is below the minimum 1K`,
				`hooks.toml:8:1: server: max_inflight_per_conn: must be > 0`,
				`hooks.toml:9:1: server: max_inflight: 99999999 exceeds the maximum 16777216`,
				`hooks.toml:10:1: server: drain_timeout: "forever" is not a duration (want e.g. "2s" or "500ms")`,
			}},
		{"server socket too long", "[server]\nsocket = \"/" + strings.Repeat("s", 107) + "\"\nmetrics_listen = \":99999\"\n",
			[]string{
				`hooks.toml:2:1: server: socket: is 108 bytes; a unix socket path may have at most 107`,
				`hooks.toml:3:1: server: metrics_listen: ":99999": port must be a number 0..65535`,
			}},
		{"server unknown key", "[server]\nmax_inflite = 1\n",
			[]string{`hooks.toml:2:1: server: max_inflite: unknown key (did you mean "max_inflight"?)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("hooks.toml", []byte(tc.src))
			assert.Nil(t, cfg)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "want a *ConfigError, got %v", err)
			got := make([]string, len(ce.Errors))
			for i, fe := range ce.Errors {
				got[i] = fe.Error()
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, strings.Join(tc.want, "\n"), err.Error())
		})
	}
}

// Errors from everywhere in a file all come back, sorted by position,
// with structured fields.
func TestParseErrorsAllReportedInOrder(t *testing.T) {
	src := `[server]
max_inflight = 0

[[hook]]
name = "audit"
event = "pre_store"
command = "audit.sh"
priority = 1
timeout_ms = 45000
namespace = "*"
bogus = true

[enforce]
mode = "strict"

[[event]]
name = "Bad"
deadline_ms = 5
`
	_, err := Parse("hooks.toml", []byte(src))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Errors, 6)
	assert.Equal(t, FieldError{Pos: Position{File: "hooks.toml", Line: 2, Column: 1}, Field: "server.max_inflight", Msg: "must be > 0"}, ce.Errors[0])
	assert.Equal(t, FieldError{Pos: Position{File: "hooks.toml", Line: 7, Column: 1}, Hook: "audit", Field: "command",
		Msg: `"audit.sh" is not an absolute path: hooks run by full path only, with no PATH search and no working directory to resolve against`}, ce.Errors[1])
	assert.Equal(t, FieldError{Pos: Position{File: "hooks.toml", Line: 9, Column: 1}, Hook: "audit", Field: "timeout_ms",
		Msg: "45000 exceeds the maximum 30000"}, ce.Errors[2])
	assert.Equal(t, "bogus", ce.Errors[3].Field)
	assert.Equal(t, 11, ce.Errors[3].Pos.Line)
	assert.Equal(t, "enforce.mode", ce.Errors[4].Field)
	assert.Equal(t, "event[0].name", ce.Errors[5].Field)
	assert.Equal(t, 17, ce.Errors[5].Pos.Line)
}

func TestConfigFieldErrorFormat(t *testing.T) {
	pos := Position{File: "hooks.toml", Line: 12, Column: 3}
	for _, tc := range []struct {
		fe   FieldError
		want string
	}{
		{FieldError{Pos: pos, Hook: "audit", Field: "timeout_ms", Msg: "45000 exceeds the maximum 30000"},
			`hooks.toml:12:3: hook "audit": timeout_ms: 45000 exceeds the maximum 30000`},
		{FieldError{Pos: pos, Hook: "audit", Field: "limits.memory_max", Msg: "m"}, `hooks.toml:12:3: hook "audit": limits.memory_max: m`},
		{FieldError{Pos: pos, Field: "server.max_inflight", Msg: "must be > 0"}, `hooks.toml:12:3: server: max_inflight: must be > 0`},
		{FieldError{Pos: pos, Field: "event[1].kind", Msg: "m"}, `hooks.toml:12:3: event[1]: kind: m`},
		{FieldError{Pos: pos, Field: "hooks", Msg: "unknown key"}, `hooks.toml:12:3: hooks: unknown key`},
		{FieldError{Pos: pos, Field: `"a.b".c`, Msg: "m"}, `hooks.toml:12:3: "a.b": c: m`},
		{FieldError{Pos: pos, Msg: "invalid TOML: x"}, `hooks.toml:12:3: invalid TOML: x`},
		{FieldError{Pos: pos, Hook: `we"ird`, Field: "name", Msg: "m"}, `hooks.toml:12:3: hook "we\"ird": name: m`},
	} {
		assert.Equal(t, tc.want, tc.fe.Error())
	}
}
