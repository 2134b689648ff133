// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// validateConfig checks the invariants every Config that Parse returns
// must hold; the fuzz target asserts them on whatever it accepts.
func validateConfig(c *Config) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for name, ev := range c.Events {
		if ev.Name != name {
			bad("event %q has Name %q", name, ev.Name)
		}
		if ev.Deadline <= 0 || ev.Deadline > 30*time.Second {
			bad("event %q deadline %v", name, ev.Deadline)
		}
		if ev.Kind != KindDecision && ev.Kind != KindNotify {
			bad("event %q kind %q", name, ev.Kind)
		}
		if ev.Kind == KindNotify && ev.Pre {
			bad("notify event %q is Pre", name)
		}
		if ev.DefaultMode != ModeExec && ev.DefaultMode != ModeDaemon {
			bad("event %q default mode %q", name, ev.DefaultMode)
		}
		if ev.Class == classCustom && (ev.MemoryDelta || !eventNameRE.MatchString(name) || len(name) > maxEventNameLen) {
			bad("custom event %q is malformed: %+v", name, ev)
		}
	}
	names := map[string]bool{}
	for i, h := range c.Hooks {
		fail := func(format string, args ...any) { bad("hook %d %q: %s", i, h.Name, fmt.Sprintf(format, args...)) }
		if h.Index != i {
			fail("index %d", h.Index)
		}
		if why := checkHookName(h.Name); why != "" {
			fail("name: %s", why)
		}
		if names[h.Name] {
			fail("duplicate name")
		}
		names[h.Name] = true
		if _, ok := c.Events[h.Event]; !ok {
			fail("unknown event %q", h.Event)
		}
		if !filepath.IsAbs(h.Command) || strings.IndexByte(h.Command, 0) >= 0 {
			fail("command %q", h.Command)
		}
		if h.Timeout <= 0 || h.Timeout > 30*time.Second {
			fail("timeout %v", h.Timeout)
		}
		if h.Mode != ModeExec && h.Mode != ModeDaemon {
			fail("mode %q", h.Mode)
		}
		if h.FailMode != FailOpen && h.FailMode != FailClosed {
			fail("fail mode %q", h.FailMode)
		}
		if h.Namespace == "" || strings.TrimSpace(h.Namespace) != h.Namespace {
			fail("namespace %q", h.Namespace)
		}
		if h.MaxConcurrency < 0 || (h.MaxConcurrency > 0 && h.Mode == ModeDaemon) {
			fail("max concurrency %d in mode %s", h.MaxConcurrency, h.Mode)
		}
		if h.StdoutMaxBytes < 1 || h.StdoutMaxBytes > maxStdoutMax || h.StderrTailBytes < 1 || h.StderrTailBytes > maxStderrTailBytes {
			fail("output caps %d %d", h.StdoutMaxBytes, h.StderrTailBytes)
		}
		l := h.Limits
		if l.MemoryMax != 0 && l.MemoryMax < minMemoryMax {
			fail("memory_max %d", l.MemoryMax)
		}
		if l.CPUQuota != 0 && (l.CPUQuota < time.Millisecond || l.CPUPeriod < time.Millisecond || l.CPUPeriod > time.Second) {
			fail("cpu %v/%v", l.CPUQuota, l.CPUPeriod)
		}
		if l.PidsMax < 0 || l.PidsMax > maxPidsMax || (l.NoFile != 0 && l.NoFile < minNoFile) {
			fail("pids %d nofile %d", l.PidsMax, l.NoFile)
		}
		for k := range h.Env {
			if checkEnvName(k) != "" {
				fail("env %q", k)
			}
		}
		for _, k := range h.PassEnv {
			if checkEnvName(k) != "" {
				fail("pass_env %q", k)
			}
		}
		if h.Dir != "" && !filepath.IsAbs(h.Dir) {
			fail("dir %q", h.Dir)
		}
		if h.Pos.Line < 1 || h.Pos.Column < 1 {
			fail("position %+v", h.Pos)
		}
	}
	switch c.Enforce.Mode {
	case "off", "advisory", "enforce":
	default:
		bad("enforce mode %q", c.Enforce.Mode)
	}
	for _, ev := range c.Enforce.RequiredEvents {
		e, ok := c.Events[ev]
		if !ok || e.Kind != KindDecision || (e.Class != classCustom && !requirableEvents[ev]) {
			bad("required event %q", ev)
		}
	}
	for _, g := range append(append([]string(nil), c.Policy.AllowCommands...), c.Policy.DenyCommands...) {
		if !strings.HasPrefix(g, "/") {
			bad("policy glob %q", g)
		}
	}
	switch c.Supervisor.Backend {
	case "auto", "linux", "portable":
	default:
		bad("backend %q", c.Supervisor.Backend)
	}
	if c.Supervisor.DaemonStopGrace < 0 || c.Supervisor.DaemonStopGrace > time.Minute {
		bad("daemon stop grace %v", c.Supervisor.DaemonStopGrace)
	}
	s := c.Server
	if !strings.HasPrefix(s.Socket, "/") || s.MaxLineBytes < 1024 || s.MaxInflight < 1 || s.MaxInflightPerConn < 1 || s.DrainTimeout < 0 {
		bad("server %+v", s)
	}
	return errors.Join(errs...)
}

// checkLocator asserts that, for a document the TOML decoder accepts, the
// locator finds every key the decoder reports, at a place where that key
// is written.
func checkLocator(t *testing.T, src string) {
	var raw map[string]any
	md, err := toml.Decode(src, &raw)
	if err != nil {
		return
	}
	l := newTOMLLocator(src)
	found := make(map[string][]int) // path without array indices -> offsets
	for k, off := range l.at {
		parts := strings.Split(k, "\x00")
		if strings.HasPrefix(parts[len(parts)-1], "\x01") {
			continue // an array element, not a key
		}
		var segs []string
		for _, s := range parts {
			if !strings.HasPrefix(s, "\x01") {
				segs = append(segs, s)
			}
		}
		j := strings.Join(segs, "\x00")
		found[j] = append(found[j], off)
	}
	for _, key := range md.Keys() {
		offs, ok := found[strings.Join(key, "\x00")]
		if !ok {
			t.Fatalf("locator missed key %q in %q", key, src)
		}
		last := key[len(key)-1]
		for _, off := range offs {
			rest := src[off:]
			if !strings.HasPrefix(rest, last) && !strings.HasPrefix(rest, "\"") && !strings.HasPrefix(rest, "'") &&
				!strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, "{") {
				t.Fatalf("key %q located at %d, which reads %.20q, in %q", key, off, rest, src)
			}
		}
	}
}

// FuzzParse: Parse never panics, and returns either a *ConfigError whose
// every entry has a position inside the file, or a Config that holds every
// invariant.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		hk + pt,
		hk + pt + "limits = { memory_max = \"1.5G\", cpu_max = \"12.5%\" }\n",
		hk + "priority = 1\ntimeout_ms = 0\n",
		"hook = [{ event = \"pre_store\", command = \"/x\", priority = 1, timeout_ms = 5, namespace = \"a/*\" }]\n",
		"[[event]]\nname = \"x\"\ndeadline_ms = 9\n[[hook]]\nevent = \"x\"\n",
		"[[hook]]\n'event' = \"pre_store\"\n\"command\" = '''/bin/\ntrue'''\n",
		"[server]\nallow_uids = [1, [2], {a = 1}]\nmax_line_bytes = \"1.0000001K\"\n",
		"a.b.c = 1\n[x.\"y.z\"]\n[[hook.limits]]\n",
		"[[hook]]\n[hook.env]\nA = \"\"\"x\"\"\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLocator(t, cfgStripBOM(string(data)))
		cfg, err := Parse("f.toml", data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config and error: %v", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("not a non-empty *ConfigError: %T %v", err, err)
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, fe := range ce.Errors {
				if fe.Pos.File != "f.toml" || fe.Pos.Line < 1 || fe.Pos.Column < 1 || fe.Pos.Line > lines {
					t.Fatalf("bad position %+v in %q (%d lines)", fe.Pos, fe.Error(), lines)
				}
				if fe.Msg == "" {
					t.Fatalf("empty message: %+v", fe)
				}
			}
			return
		}
		if err := validateConfig(cfg); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
	})
}
