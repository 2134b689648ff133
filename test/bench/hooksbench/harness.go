// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Sizes of the request envelopes: what goes down the hook's stdin,
// newline included, exactly as the executor frames it.
const (
	size200B = 200
	size64K  = 64 << 10
	size1M   = 1 << 20
)

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// envelopeOf returns a payload whose envelope for event is exactly size
// bytes, and that envelope: {"event":"…","payload":{…}}\n, the framing
// of the exec and daemon wire protocol.
func envelopeOf(event string, size int) (json.RawMessage, []byte) {
	head := `{"event":"` + event + `","payload":`
	pre := `{"namespace":"bench","key":"k-0001","value":"`
	post := `"}`
	fill := size - len(head) - len(pre) - len(post) - len("}\n")
	if fill < 0 {
		fill = 0
	}
	payload := pre + strings.Repeat("v", fill) + post
	return json.RawMessage(payload), []byte(head + payload + "}\n")
}

// writeTemp writes data to a file in the scratch directory.
func (b *bench) writeTemp(name string, data []byte) (string, error) {
	p := filepath.Join(b.tmp, name)
	return p, os.WriteFile(p, data, 0o600)
}

// hookEnv is the environment the executor gives a hook child; the
// baselines give their children the same.
func hookEnv(event, hook string) []string {
	return []string{"HOOKSUPD_EVENT=" + event, "HOOKSUPD_HOOK=" + hook, "PATH=/usr/local/bin:/usr/bin:/bin"}
}

// hookDef is one [[hook]] block of a generated hooks.toml.
type hookDef struct {
	name, event, command string
	args                 []string
	mode                 string // "exec" or "daemon"
	priority             int
	timeoutMS            int
	capped               bool
	limits               string // [hook.limits] body instead of the standard caps
	sandbox              string // [hook.sandbox] body, if any
}

// configOf renders a hooks.toml with the production defaults (strict_modes
// on) plus extra top-level text (custom events, [server]) and parses it
// with the executor's own loader.
func configOf(defs []hookDef, extra string) (*config.Config, string, error) {
	var sb strings.Builder
	sb.WriteString(extra)
	sb.WriteString("\n[supervisor]\nbackend = \"linux\"\n")
	for _, d := range defs {
		fmt.Fprintf(&sb, "\n[[hook]]\nname = %q\nevent = %q\ncommand = %q\n", d.name, d.event, d.command)
		if len(d.args) > 0 {
			q := make([]string, len(d.args))
			for i, a := range d.args {
				q[i] = fmt.Sprintf("%q", a)
			}
			fmt.Fprintf(&sb, "args = [%s]\n", strings.Join(q, ", "))
		}
		to := d.timeoutMS
		if to == 0 {
			to = 10000
		}
		fmt.Fprintf(&sb, "mode = %q\npriority = %d\ntimeout_ms = %d\nenabled = true\nnamespace = \"*\"\n",
			d.mode, d.priority, to)
		if d.limits != "" {
			sb.WriteString("[hook.limits]\n" + d.limits + "\n")
		} else if d.capped {
			fmt.Fprintf(&sb, "[hook.limits]\nmemory_max = \"%dM\"\ncpu_max = \"%d%%\"\npids_max = %d\n",
				naiveMemory>>20, naiveCPUQuota*100/naiveCPUPeriod, naivePids)
		}
		if d.sandbox != "" {
			sb.WriteString("[hook.sandbox]\n" + d.sandbox + "\n")
		}
	}
	text := sb.String()
	cfg, err := config.Parse("hooks.toml", []byte(text))
	if err != nil {
		return nil, text, fmt.Errorf("generated config: %w", err)
	}
	return cfg, text, nil
}

// stack is one Linux backend and a registry of executors over it, as
// `hooksupd serve` builds them.
type stack struct {
	be  supervisor.Backend
	reg *executor.Registry
	cfg *config.Config
}

func newStack(cfg *config.Config) (*stack, error) {
	be, err := supervisor.New(supervisor.Options{Kind: "linux"})
	if err != nil {
		return nil, fmt.Errorf("linux backend: %w", err)
	}
	reg := executor.NewRegistry(executor.RegistryOptions{Backend: be, Policy: cfg.Policy, Events: cfg.Events})
	s := &stack{be: be, reg: reg, cfg: cfg}
	atExit(func() { s.close() })
	return s, nil
}

func (s *stack) close() {
	if s.reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.reg.Close(ctx)
	_ = s.be.Close()
	s.reg = nil
}

// executor returns the executor of the named hook.
func (s *stack) executor(name string) (executor.Executor, error) {
	for i := range s.cfg.Hooks {
		if s.cfg.Hooks[i].Name == name {
			return s.reg.Executor(&s.cfg.Hooks[i])
		}
	}
	return nil, fmt.Errorf("no hook %q", name)
}

// fireOnce fires one event through ex and checks the allow decision.
func fireOnce(ex executor.Executor, event string, payload json.RawMessage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := ex.Fire(ctx, event, payload)
	if err != nil {
		return err
	}
	if d.Action != executor.ActionAllow {
		return fmt.Errorf("decision %q, want allow", d.Action)
	}
	return nil
}

// parseAllow checks that the last non-empty line of out is an allow
// decision, with encoding/json (what a Go supervisor does).
func parseAllow(out []byte) error {
	out = bytes.TrimRight(out, "\r\n ")
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var d struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		return fmt.Errorf("answer %.60q: %w", out, err)
	}
	if d.Action != "allow" {
		return fmt.Errorf("answer %q, want allow", d.Action)
	}
	return nil
}

// variant is one contender of an interleaved comparison.
type variant struct {
	name string
	base bool
	// run measures n operations back to back.
	run func(n int) (batch, error)
	s   samples
}

// tooManyFailures decides whether a failed batch ends the comparison: a
// batch that failed for another reason than failed operations (a driver
// that died) always does; failed operations do once they are more than a
// handful and more than half of the variant's operations. Fewer are counted
// and reported with the row.
func (v *variant) tooManyFailures(bt batch) bool {
	if bt.fails == 0 {
		return true
	}
	return v.s.fails > max(5, v.s.ops/2)
}

// interleave warms every variant up, then runs rounds of one batch per
// variant, rotating the order every round so no variant always follows
// the same neighbour.
func interleave(vs []*variant, warm, rounds, size int) error {
	for _, v := range vs {
		if _, err := v.run(warm); err != nil {
			return fmt.Errorf("%s (warm-up): %w", v.name, err)
		}
	}
	for r := range rounds {
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			bt, err := v.run(size)
			v.s.add(bt)
			if err != nil && v.tooManyFailures(bt) {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
	}
	return nil
}

// sparse fires each variant once per turn with an idle gap before every
// fire: the machine (and the cgroup code's RCU state) goes quiet between
// fires, as it does for a hook that fires a few times a second.
func sparse(vs []*variant, n int, gap time.Duration) error {
	for _, v := range vs { // warm-up
		if _, err := v.run(2); err != nil {
			return fmt.Errorf("%s (warm-up): %w", v.name, err)
		}
	}
	for i := range n {
		for j := range vs {
			v := vs[(i+j)%len(vs)]
			time.Sleep(gap)
			bt, err := v.run(1)
			v.s.add(bt)
			if err != nil && v.tooManyFailures(bt) {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
	}
	return nil
}

// counts returns the full or quick value.
func (b *bench) counts(full, quick int) int {
	if b.quick {
		return quick
	}
	return full
}
