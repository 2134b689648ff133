// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("hooks.toml", []byte(src))
	require.NoError(t, err)
	require.NoError(t, validateConfig(cfg))
	return cfg
}

// A file in the seed's format, one hook for each of the 22 events, loads
// unchanged, with the seed's defaults for mode and fail_mode.
func TestLoadSeedFormatAllEvents(t *testing.T) {
	path := filepath.Join("testdata", "config", "seed.toml")
	cfg, err := Load(path)
	require.NoError(t, err)
	require.NoError(t, validateConfig(cfg))
	assert.Equal(t, path, cfg.Path)
	require.Len(t, cfg.Hooks, 22)
	headers := headerLines(t, path)
	require.Len(t, headers, 22)

	seen := map[string]bool{}
	for i, h := range cfg.Hooks {
		seen[h.Event] = true
		assert.Equal(t, i, h.Index)
		assert.Equal(t, h.Event+"-"+strconv.Itoa(i), h.Name, "default name")
		assert.Equal(t, "/usr/local/libexec/ai-memory/hooks/"+strings.ReplaceAll(h.Event, "_", "-"), h.Command)
		assert.Equal(t, Position{File: "seed.toml", Line: headers[i], Column: 1}, h.Pos, h.Name)
		// Extensions stay at their defaults.
		assert.Empty(t, h.Args)
		assert.Empty(t, h.Env)
		assert.Equal(t, Limits{}, h.Limits)
		assert.Equal(t, 1<<20, h.StdoutMaxBytes)
		assert.Equal(t, 4096, h.StderrTailBytes)
		wantConc := 0 // a daemon has one child
		if h.Mode == ModeExec {
			wantConc = DefaultMaxConcurrency()
		}
		assert.Equal(t, wantConc, h.MaxConcurrency, h.Name)
		assert.False(t, h.AllowUncapped)
	}
	assert.Len(t, seen, 22, "every built-in event has a hook")
	for name := range BuiltinEvents() {
		assert.True(t, seen[name], name)
	}

	byEvent := map[string]Hook{}
	for _, h := range cfg.Hooks {
		byEvent[h.Event] = h
	}
	// The seed's default modes: daemon for the three hot-path events...
	assert.Equal(t, ModeDaemon, byEvent["post_recall"].Mode)
	assert.Equal(t, ModeDaemon, byEvent["post_search"].Mode)
	assert.Equal(t, ModeDaemon, byEvent["pre_recall_expand"].Mode)
	// ...exec elsewhere, and an explicit mode always wins.
	assert.Equal(t, ModeExec, byEvent["pre_store"].Mode)
	assert.Equal(t, ModeExec, byEvent["post_store"].Mode)        // explicit exec
	assert.Equal(t, ModeDaemon, byEvent["post_search"].Mode)     // explicit daemon (also its default)
	assert.Equal(t, ModeDaemon, byEvent["pre_consolidate"].Mode) // explicit daemon
	assert.Equal(t, ModeDaemon, byEvent["post_reflect"].Mode)    // explicit daemon
	assert.Equal(t, ModeExec, byEvent["post_governance_decision"].Mode)
	assert.Equal(t, ModeExec, byEvent["post_signal_ack"].Mode)

	assert.Equal(t, FailClosed, byEvent["pre_store"].FailMode)
	assert.Equal(t, FailOpen, byEvent["post_recall"].FailMode) // explicit open
	assert.Equal(t, FailOpen, byEvent["post_search"].FailMode) // default
	assert.Equal(t, 45*time.Millisecond, byEvent["pre_recall_expand"].Timeout)
	assert.Equal(t, int32(1000), byEvent["pre_store"].Priority)
	assert.Equal(t, "team/*", byEvent["pre_store"].Namespace)
	assert.False(t, byEvent["post_delete"].Enabled)
	assert.True(t, byEvent["pre_delete"].Enabled)

	// Top-level tables the seed does not have take their defaults.
	assert.Equal(t, Enforce{Mode: "off"}, cfg.Enforce)
	assert.Equal(t, Policy{StrictModes: true}, cfg.Policy)
	assert.Equal(t, SupervisorConfig{Backend: "auto", DaemonStopGrace: 2 * time.Second, DynamicUsers: "61184-65519"}, cfg.Supervisor)
	assert.Equal(t, defaultServerConfig(), cfg.Server)
	assert.Equal(t, BuiltinEvents(), cfg.Events)
}

// headerLines returns the line numbers of the [[hook]] headers in a file.
func headerLines(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []int
	for i, line := range strings.Split(string(data), "\n") {
		if line == "[[hook]]" {
			out = append(out, i+1)
		}
	}
	return out
}

func defaultServerConfig() ServerConfig {
	return ServerConfig{
		Socket:             "/run/hooksupd/hooksupd.sock",
		MaxLineBytes:       1 << 20,
		MaxInflightPerConn: 256,
		MaxInflight:        4096,
		DrainTimeout:       10 * time.Second,
	}
}

// The seed requires enabled; hooksupd defaults it to true. A seed file
// always sets it, so the default cannot change how a seed file loads.
func TestParseEnabledDefaultsTrue(t *testing.T) {
	cfg := mustParse(t, `
[[hook]]
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 100
namespace = "*"
`)
	require.Len(t, cfg.Hooks, 1)
	assert.True(t, cfg.Hooks[0].Enabled)
	assert.Equal(t, FailOpen, cfg.Hooks[0].FailMode)
	assert.Equal(t, "pre_store-0", cfg.Hooks[0].Name)
}

// An exec hook gets a bounded max_concurrency unless it writes one; 0
// written is unbounded.
func TestParseMaxConcurrencyDefault(t *testing.T) {
	block := "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\npriority = 1\ntimeout_ms = 100\nnamespace = \"*\"\n"
	cfg := mustParse(t, block+"\n"+block+"max_concurrency = 0\n\n"+block+"max_concurrency = 3\n")
	require.Len(t, cfg.Hooks, 3)
	assert.GreaterOrEqual(t, DefaultMaxConcurrency(), minMaxConcurrency)
	assert.Equal(t, DefaultMaxConcurrency(), cfg.Hooks[0].MaxConcurrency)
	assert.Equal(t, 0, cfg.Hooks[1].MaxConcurrency)
	assert.Equal(t, 3, cfg.Hooks[2].MaxConcurrency)
}

// Every extension key decodes into its field.
func TestParseAllExtensions(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "config", "full.toml"))
	require.NoError(t, err)
	require.NoError(t, validateConfig(cfg))

	assert.Equal(t, Event{Name: "pre_deploy", Class: "custom", Deadline: 10 * time.Second,
		Kind: KindDecision, Pre: false, DefaultMode: ModeDaemon}, cfg.Events["pre_deploy"])
	assert.Equal(t, Event{Name: "build_finished", Class: "custom", Deadline: 3 * time.Second,
		Kind: KindNotify, Pre: false, DefaultMode: ModeExec}, cfg.Events["build_finished"])
	assert.Len(t, cfg.Events, 24)

	assert.Equal(t, Enforce{Mode: "enforce", RequiredEvents: []string{"pre_store", "pre_deploy"}}, cfg.Enforce)
	assert.Equal(t, Policy{
		AllowCommands: []string{"/usr/local/libexec/hooks/*", "/opt/hooks/bin/*"},
		DenyCommands:  []string{"/usr/local/libexec/hooks/disabled-*"},
		StrictModes:   false,
	}, cfg.Policy)
	assert.Equal(t, SupervisorConfig{Backend: "linux", CgroupParent: "/hooksupd.slice",
		DaemonStopGrace: 5 * time.Second, DynamicUsers: "61184-65519"}, cfg.Supervisor)
	assert.Equal(t, ServerConfig{
		Socket:             "/run/hooksupd/custom.sock",
		SocketGroup:        "nogroup",
		AllowUIDs:          []uint32{0, 1000},
		AllowGIDs:          []uint32{65534},
		MetricsListen:      "127.0.0.1:9464",
		MaxLineBytes:       4 << 20,
		MaxInflightPerConn: 64,
		MaxInflight:        1024,
		DrainTimeout:       30 * time.Second,
	}, cfg.Server)

	require.Len(t, cfg.Hooks, 3)
	audit := cfg.Hooks[0]
	nobody := lookupTestIDs(t)
	assert.Equal(t, Hook{
		Name:            "audit",
		Event:           "pre_store",
		Command:         "/usr/local/libexec/hooks/audit",
		Args:            []string{"--mode", "strict"},
		Env:             map[string]string{"AUDIT_LEVEL": "high", "LANG": "C.UTF-8"},
		PassEnv:         []string{"TZ", "http_proxy"},
		Dir:             "/var/lib/hooks",
		Priority:        1000,
		Timeout:         1500 * time.Millisecond,
		Mode:            ModeExec,
		Enabled:         true,
		Namespace:       "team/*", // trimmed, as the seed's matcher trims
		FailMode:        FailClosed,
		MaxConcurrency:  8,
		StdoutMaxBytes:  2 << 20,
		StderrTailBytes: 8192,
		Limits: Limits{
			MemoryMax: 64 << 20,
			CPUQuota:  150 * time.Millisecond,
			CPUPeriod: 100 * time.Millisecond,
			PidsMax:   32,
			NoFile:    256,
		},
		AllowUncapped: true,
		User:          "nobody",
		Group:         "nogroup",
		UID:           nobody.uid,
		GID:           nobody.gid,
		Index:         0,
		Pos:           Position{File: "full.toml", Line: 40, Column: 1},
	}, audit)

	deploy := cfg.Hooks[1]
	assert.Equal(t, "pre_deploy-1", deploy.Name)
	assert.Equal(t, ModeDaemon, deploy.Mode, "custom event's default_mode")
	assert.Equal(t, int32(-5), deploy.Priority)
	assert.Equal(t, 30*time.Second, deploy.Timeout)
	assert.Equal(t, Limits{MemoryMax: 1 << 30, CPUQuota: 50 * time.Millisecond,
		CPUPeriod: 100 * time.Millisecond}, deploy.Limits)

	notify := cfg.Hooks[2]
	assert.Equal(t, "build_finished-2", notify.Name)
	assert.Equal(t, ModeExec, notify.Mode)
	assert.False(t, notify.Enabled)
	assert.Equal(t, time.Millisecond, notify.Timeout)
	assert.Equal(t, "0", notify.User)
	assert.Equal(t, uint32(0), notify.UID)
	assert.Equal(t, uint32(0), notify.GID, "root's primary group")
	assert.Equal(t, Limits{MemoryMax: 3 << 29, PidsMax: 1}, notify.Limits)
}

type testIDs struct{ uid, gid uint32 }

// lookupTestIDs returns nobody's uid and nogroup's gid, skipping where the
// host has neither (full.toml names them).
func lookupTestIDs(t *testing.T) testIDs {
	t.Helper()
	uid, _, _, err := lookupUser("nobody")
	if err != nil {
		testutil.SkipOrFail(t, "no user nobody: %v", err)
	}
	gid, err := lookupGroup("nogroup")
	if err != nil {
		testutil.SkipOrFail(t, "no group nogroup: %v", err)
	}
	return testIDs{uid, gid}
}

// An empty file (or one with only comments) is a valid config with no
// hooks and every default.
func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# nothing here\n", "\xef\xbb\xbf"} {
		cfg := mustParse(t, src)
		assert.Empty(t, cfg.Hooks)
		assert.Equal(t, BuiltinEvents(), cfg.Events)
		assert.Equal(t, "off", cfg.Enforce.Mode)
		assert.True(t, cfg.Policy.StrictModes)
		assert.Equal(t, "auto", cfg.Supervisor.Backend)
		assert.Equal(t, 2*time.Second, cfg.Supervisor.DaemonStopGrace)
		assert.Equal(t, defaultServerConfig(), cfg.Server)
		assert.Empty(t, cfg.Path, "Parse does not set Path")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "hooks.toml"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
	var ce *ConfigError
	assert.False(t, errors.As(err, &ce))
}

// Load names the file by its base name in positions and keeps the full
// path in Config.Path.
func TestLoadPositionsUseBaseName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-hooks.toml")
	require.NoError(t, os.WriteFile(path, []byte("[server]\nmax_inflight = -1\n"), 0o600))
	_, err := Load(path)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "site-hooks.toml:2:1: server: max_inflight: must be > 0", err.Error())

	require.NoError(t, os.WriteFile(path, nil, 0o600))
	cfg, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, path, cfg.Path)
	assert.Empty(t, cfg.Hooks)
}

func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.toml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("#", maxConfigBytes+1)), 0o600))
	_, err := Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than")
}

// HooksFor keeps enabled hooks of the event, priority descending, ties in
// file order (the seed's stable sort).
func TestConfigHooksFor(t *testing.T) {
	var b strings.Builder
	hook := func(name, event string, prio int, enabled bool) {
		b.WriteString("[[hook]]\nname = \"" + name + "\"\nevent = \"" + event + "\"\ncommand = \"/bin/true\"\n" +
			"priority = " + strconv.Itoa(prio) + "\ntimeout_ms = 100\nnamespace = \"*\"\n")
		if !enabled {
			b.WriteString("enabled = false\n")
		}
	}
	hook("low", "pre_store", 1, true)
	hook("tie-a", "pre_store", 50, true)
	hook("other-event", "post_store", 5000, true)
	hook("high", "pre_store", 1000, true)
	hook("off", "pre_store", 9999, false)
	hook("tie-b", "pre_store", 50, true)
	hook("neg", "pre_store", -3, true)
	cfg := mustParse(t, b.String())

	var names []string
	for _, h := range cfg.HooksFor("pre_store") {
		names = append(names, h.Name)
	}
	assert.Equal(t, []string{"high", "tie-a", "tie-b", "low", "neg"}, names)
	assert.Len(t, cfg.HooksFor("post_store"), 1)
	assert.Empty(t, cfg.HooksFor("post_recall"))
	assert.Empty(t, cfg.HooksFor("no_such_event"))

	// The result is a copy: reordering it leaves the config alone.
	got := cfg.HooksFor("pre_store")
	got[0], got[1] = got[1], got[0]
	assert.Equal(t, "high", cfg.HooksFor("pre_store")[0].Name)
	assert.Equal(t, "low", cfg.Hooks[0].Name)
}

// HooksFor also orders a hand-built config (no Index set) by slice order.
func TestConfigHooksForHandBuilt(t *testing.T) {
	cfg := &Config{Hooks: []Hook{
		{Name: "a", Event: "x", Priority: 1, Enabled: true},
		{Name: "b", Event: "x", Priority: 2, Enabled: true},
		{Name: "c", Event: "x", Priority: 1, Enabled: true},
	}}
	var names []string
	for _, h := range cfg.HooksFor("x") {
		names = append(names, h.Name)
	}
	assert.Equal(t, []string{"b", "a", "c"}, names)
}

// Hooks may name custom events declared after them, and the same file
// may use inline-table syntax for [[hook]].
func TestParseCustomEventsAnywhere(t *testing.T) {
	cfg := mustParse(t, `
hook = [
  { event = "late_event", command = "/bin/true", priority = 1, timeout_ms = 10, namespace = "*" },
  { event = "late_notify", command = "/bin/true", priority = 2, timeout_ms = 10, namespace = "*", mode = "daemon" },
]

[[event]]
name = "late_event"
deadline_ms = 250

[[event]]
name = "late_notify"
deadline_ms = 30000
kind = "notify"
default_mode = "daemon"
`)
	assert.Equal(t, Event{Name: "late_event", Class: "custom", Deadline: 250 * time.Millisecond,
		Kind: KindDecision, Pre: true, DefaultMode: ModeExec}, cfg.Events["late_event"])
	assert.False(t, cfg.Events["late_event"].MemoryDelta)
	assert.Equal(t, KindNotify, cfg.Events["late_notify"].Kind)
	assert.False(t, cfg.Events["late_notify"].Pre)
	require.Len(t, cfg.Hooks, 2)
	assert.Equal(t, "late_event-0", cfg.Hooks[0].Name)
	assert.Equal(t, Position{File: "hooks.toml", Line: 3, Column: 3}, cfg.Hooks[0].Pos)
	assert.Equal(t, ModeDaemon, cfg.Hooks[1].Mode)
}

// Dotted keys, an inline limits table and a [hook.limits] sub-table are
// the same thing.
func TestParseLimitsSpellings(t *testing.T) {
	base := "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\npriority = 1\ntimeout_ms = 10\nnamespace = \"*\"\n"
	want := Limits{MemoryMax: 512 << 10 << 1, CPUQuota: 20 * time.Millisecond,
		CPUPeriod: 100 * time.Millisecond, PidsMax: 4, NoFile: 64}
	for _, limits := range []string{
		"limits = { memory_max = \"1M\", cpu_max = \"20%\", pids_max = 4, nofile = 64 }\n",
		"limits.memory_max = 1048576\nlimits.cpu_max = \"20000/100000\"\nlimits.pids_max = 4\nlimits.nofile = 64\n",
		"[hook.limits]\nmemory_max = \"1024K\"\ncpu_max = \" 20 % \"\npids_max = 4\nnofile = 64\n",
	} {
		cfg := mustParse(t, base+limits)
		assert.Equal(t, want, cfg.Hooks[0].Limits, limits)
	}
}

func TestParseUserGroup(t *testing.T) {
	ids := lookupTestIDs(t)
	base := "[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\npriority = 1\ntimeout_ms = 10\nnamespace = \"*\"\n"
	for _, tc := range []struct {
		kv       string
		uid, gid uint32
	}{
		{"user = \"root\"\n", 0, 0},
		{"user = \"nobody\"\n", ids.uid, ids.gid},
		{"user = \"nobody\"\ngroup = \"0\"\n", ids.uid, 0},
		{"group = \"nogroup\"\n", 0, ids.gid},
		// A numeric uid without a passwd entry is taken as written when the
		// group is set too.
		{"user = \"4000000000\"\ngroup = \"4000000001\"\n", 4000000000, 4000000001},
	} {
		cfg := mustParse(t, base+tc.kv)
		h := cfg.Hooks[0]
		if h.DynamicUser {
			// As root, a hook with a group but no user gets a dynamic
			// uid (see TestDynamicUsers); the group is still its gid.
			assert.NotContains(t, tc.kv, "user =", tc.kv)
			assert.True(t, h.UID >= 61184 && h.UID <= 65519, "%s: uid %d", tc.kv, h.UID)
		} else {
			assert.Equal(t, tc.uid, h.UID, tc.kv)
		}
		assert.Equal(t, tc.gid, h.GID, tc.kv)
	}
}

// [enforce] mode is read case-insensitively and trimmed, as the Rust
// executor reads it; anything else is still an error naming the value.
func TestEnforceModeCaseInsensitive(t *testing.T) {
	for in, want := range map[string]string{"ADVISORY": "advisory", "  Enforce  ": "enforce", "off": "off"} {
		cfg, err := Parse("hooks.toml", []byte("[enforce]\nmode = \""+in+"\"\n"))
		if err != nil || cfg.Enforce.Mode != want {
			t.Errorf("mode %q: %+v %v, want %q", in, cfg, err, want)
		}
	}
	if _, err := Parse("hooks.toml", []byte("[enforce]\nmode = \"Bogus\"\n")); err == nil || !strings.Contains(err.Error(), `"Bogus" is not one of`) {
		t.Errorf("bad mode: %v", err)
	}
}
