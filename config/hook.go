// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Bounds and defaults of [[hook]] keys.
const (
	maxHookTimeoutMS = 30000 // the seed's MAX_TIMEOUT_MS
	maxHookNameLen   = 64
	// defaultStdoutMax and maxStdoutMax bound stdout_max_bytes; the
	// default matches MaxDecisionLine.
	defaultStdoutMax = 1 << 20
	maxStdoutMax     = 64 << 20
	// defaultStderrTailBytes is the seed's STDERR_RING_CAPACITY.
	defaultStderrTailBytes = 4096
	maxStderrTailBytes     = 1 << 20
	maxConcurrencyLimit    = 1 << 20
	// maxConcurrencyPerCPU and minMaxConcurrency make the default
	// max_concurrency of an exec hook (see DefaultMaxConcurrency).
	maxConcurrencyPerCPU = 4
	minMaxConcurrency    = 8
	minMemoryMax         = 1 << 20
	// maxPidsMax is the kernel's PID_MAX_LIMIT.
	maxPidsMax = 4 << 20
	// minNoFile leaves room for stdin, stdout and stderr.
	minNoFile = 3
	maxNoFile = 1 << 30
)

// hookKeys are the keys of [[hook]]: the seed's eight, then the extensions.
var hookKeys = []string{
	"event", "command", "priority", "timeout_ms", "mode", "enabled", "namespace", "fail_mode",
	"name", "args", "env", "pass_env", "dir", "max_concurrency", "stdout_max_bytes",
	"stderr_tail_bytes", "allow_uncapped", "user", "group", "limits",
	"capabilities", "sandbox",
}

// limitKeys are the keys of [hook.limits].
var limitKeys = []string{"memory_max", "cpu_max", "pids_max", "nofile"}

// hookNameRE: a hook's name is a directory name in the cgroup tree and a
// metrics label, so it is one plain path element.
var hookNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// envNameRE is the portable shape of an environment variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkHookName returns why name cannot name a hook, or "".
func checkHookName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > maxHookNameLen:
		return fmt.Sprintf("%q is %d bytes; the maximum is %d", name, len(name), maxHookNameLen)
	case !hookNameRE.MatchString(name):
		return fmt.Sprintf("%q may use only A-Z a-z 0-9 . _ - (it names a cgroup directory)", name)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a usable directory name", name)
	}
	return ""
}

// checkEnvName returns why name cannot be set in a hook's environment.
func checkEnvName(name string) string {
	switch {
	case !envNameRE.MatchString(name):
		return fmt.Sprintf("%q is not a valid environment variable name", name)
	case name == "PATH" || strings.HasPrefix(name, "HOOKSUPD_"):
		return fmt.Sprintf("%s is reserved: hooksupd sets PATH and HOOKSUPD_* itself", name)
	}
	return ""
}

// hookDisplayName is the name errors use for hook i before its keys are
// checked: its name if that is a string, else the default name.
func hookDisplayName(i int, m map[string]any) string {
	if n, ok := m["name"].(string); ok && n != "" {
		return n
	}
	if ev, ok := m["event"].(string); ok && ev != "" {
		return fmt.Sprintf("%s-%d", ev, i)
	}
	return fmt.Sprintf("hook-%d", i)
}

// decodeHook decodes [[hook]] number i.
func (d *cfgDecoder) decodeHook(i int, m map[string]any, events map[string]Event) Hook {
	t := d.table(m, []string{"hook", locIndex(i)}, hookDisplayName(i, m), "", hookKeys...)
	h := Hook{
		Index:           i,
		Pos:             t.pos,
		Enabled:         true,
		FailMode:        FailOpen,
		StdoutMaxBytes:  defaultStdoutMax,
		StderrTailBytes: defaultStderrTailBytes,
	}

	var ev Event
	if s, ok := t.str("event"); ok {
		if e, known := events[s]; known {
			ev, h.Event = e, s
		} else {
			names := make([]string, 0, len(events))
			for n := range events {
				names = append(names, n)
			}
			sort.Strings(names)
			if sg := cfgSuggest(s, names); sg != "" {
				t.errAt("event", "unknown event %q (did you mean %q?)", s, sg)
			} else {
				t.errAt("event", "unknown event %q (declare custom events with [[event]])", s)
			}
		}
	} else if _, present := m["event"]; !present {
		t.errMissing("event", "")
	}

	h.Name = fmt.Sprintf("%s-%d", h.Event, i)
	if s, ok := t.str("name"); ok {
		h.Name = s
		if why := checkHookName(s); why != "" {
			t.errAt("name", "%s", why)
		}
	} else if h.Event == "" {
		h.Name = t.hook
	}

	if s, ok := t.str("command"); ok {
		switch {
		case s == "":
			t.errAt("command", "must be a non-empty absolute path")
		case !filepath.IsAbs(s):
			t.errAt("command", "%q is not an absolute path: hooks run by full path only, "+
				"with no PATH search and no working directory to resolve against", s)
		default:
			h.Command = s
		}
	} else if _, present := m["command"]; !present {
		t.errMissing("command", "")
	}

	if n, ok := t.integer("priority"); ok {
		if n < math.MinInt32 || n > math.MaxInt32 {
			t.errAt("priority", "%d does not fit a 32-bit signed integer", n)
		}
		h.Priority = int32(n)
	} else if _, present := m["priority"]; !present {
		t.errMissing("priority", " (higher runs first; the docs suggest 1000+ for security, 100-999 for enrichment, 1-99 for observability)")
	}

	if n, ok := t.integer("timeout_ms"); ok {
		switch {
		case n == 0:
			t.errAt("timeout_ms", "0 would time out at once; must be 1..%d", maxHookTimeoutMS)
		case n < 0:
			t.errAt("timeout_ms", "%d is negative; must be 1..%d", n, maxHookTimeoutMS)
		case n > maxHookTimeoutMS:
			t.errAt("timeout_ms", "%d exceeds the maximum %d", n, maxHookTimeoutMS)
		default:
			h.Timeout = time.Duration(n) * time.Millisecond
		}
	} else if _, present := m["timeout_ms"]; !present {
		t.errMissing("timeout_ms", "")
	}

	h.Mode = ModeExec
	if ev.DefaultMode != "" {
		h.Mode = ev.DefaultMode
	}
	modeSet := false
	if s, ok := t.enum("mode", string(ModeExec), string(ModeDaemon)); ok {
		h.Mode, modeSet = Mode(s), true
	}
	if b, ok := t.boolean("enabled"); ok {
		h.Enabled = b
	}
	if s, ok := t.str("namespace"); ok {
		h.Namespace = strings.TrimSpace(s)
		if h.Namespace == "" {
			t.errAt("namespace", `must be a non-empty pattern (use "*" to match all)`)
		}
	} else if _, present := m["namespace"]; !present {
		t.errMissing("namespace", ` (use "*" to match all)`)
	}
	if s, ok := t.enum("fail_mode", string(FailOpen), string(FailClosed)); ok {
		h.FailMode = FailMode(s)
	}

	d.decodeHookProcess(t, &h)

	if h.Mode == ModeExec {
		h.MaxConcurrency = DefaultMaxConcurrency()
	}
	if n, ok := t.intRange("max_concurrency", 0, maxConcurrencyLimit); ok {
		h.MaxConcurrency = int(n)
		if h.Mode == ModeDaemon {
			why := "mode is daemon"
			if !modeSet {
				why = fmt.Sprintf("daemon is the default mode for %s", h.Event)
			}
			t.errAt("max_concurrency", "applies to exec mode only (%s): a daemon hook has one child", why)
		}
	}
	if n, ok := t.size("stdout_max_bytes", 1, maxStdoutMax); ok {
		h.StdoutMaxBytes = int(n)
	}
	if n, ok := t.size("stderr_tail_bytes", 1, maxStderrTailBytes); ok {
		h.StderrTailBytes = int(n)
	}
	if b, ok := t.boolean("allow_uncapped"); ok {
		h.AllowUncapped = b
	}
	d.decodeCredentials(t, &h)
	d.decodeSandbox(t, &h)
	if lt, ok := t.sub("limits", limitKeys...); ok {
		h.Limits = decodeLimits(lt)
	}
	t.finish()
	return h
}

// decodeHookProcess decodes what the child is started with: args, env,
// pass_env and dir.
func (d *cfgDecoder) decodeHookProcess(t *cfgTable, h *Hook) {
	if a, ok := t.strList("args"); ok {
		h.Args = a
	}
	if et, ok := t.sub("env"); ok {
		keys := make([]string, 0, len(et.m))
		for k := range et.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		env := make(map[string]string, len(keys))
		for _, k := range keys {
			if why := checkEnvName(k); why != "" {
				et.get(k)
				et.errAt(k, "%s", why)
				continue
			}
			if v, ok := et.str(k); ok {
				env[k] = v
			}
		}
		h.Env = env
	}
	if names, ok := t.strList("pass_env"); ok {
		seen := make(map[string]bool, len(names))
		for i, n := range names {
			switch why := checkEnvName(n); {
			case why != "":
				t.errElem("pass_env", i, "%s", why)
			case seen[n]:
				t.errElem("pass_env", i, "%s is listed twice", n)
			default:
				if _, inEnv := h.Env[n]; inEnv {
					t.errElem("pass_env", i, "%s is also set in env; keep one", n)
				}
			}
			seen[n] = true
		}
		h.PassEnv = names
	}
	if s, ok := t.str("dir"); ok {
		if !filepath.IsAbs(s) {
			t.errAt("dir", "%q is not an absolute path", s)
		}
		h.Dir = s
	}
}

// decodeCredentials resolves user and group now, so that a typo fails the
// load instead of every fire.
func (d *cfgDecoder) decodeCredentials(t *cfgTable, h *Hook) {
	user, hasUser := t.str("user")
	group, hasGroup := t.str("group")
	if hasUser {
		h.User = user
		if user == "" {
			t.errAt("user", "must not be empty")
		} else if uid, gid, known, err := lookupUser(user); err != nil {
			t.errAt("user", "%v", err)
		} else {
			h.UID, h.GID = uid, gid
			if !known && !hasGroup {
				t.errAt("user", "uid %s has no passwd entry, so no primary group: set group too", user)
			}
		}
	}
	if hasGroup {
		h.Group = group
		if group == "" {
			t.errAt("group", "must not be empty")
		} else if gid, err := lookupGroup(group); err != nil {
			t.errAt("group", "%v", err)
		} else {
			h.GID = gid
		}
	}
}

// decodeLimits decodes [hook.limits].
func decodeLimits(t *cfgTable) (l Limits) {
	if n, ok := t.size("memory_max", minMemoryMax, math.MaxInt64); ok {
		l.MemoryMax = n
	}
	if v, ok := t.get("cpu_max"); ok {
		if s, isStr := v.(string); !isStr {
			t.wrongType("cpu_max", `a string such as "20%", "150%" or "50000/100000"`, v)
		} else if q, p, err := parseCPUMax(s); err != nil {
			t.errAt("cpu_max", "%v", err)
		} else {
			l.CPUQuota, l.CPUPeriod = q, p
		}
	}
	if n, ok := t.intRange("pids_max", 1, maxPidsMax); ok {
		l.PidsMax = n
	}
	if n, ok := t.intRange("nofile", minNoFile, maxNoFile); ok {
		l.NoFile = uint64(n)
	}
	t.finish()
	return l
}

// DefaultMaxConcurrency is an exec hook's max_concurrency when hooks.toml
// does not set it: 4 children per CPU, at least 8. Unbounded, one client
// pipelining hundreds of fires of a slow hook starts hundreds of children
// at once and every other fire waits for CPU behind them; bounded, the
// extra fires wait for a slot (served round-robin across clients) within
// their deadline. max_concurrency = 0 asks for unbounded.
func DefaultMaxConcurrency() int {
	return max(minMaxConcurrency, maxConcurrencyPerCPU*runtime.NumCPU())
}
