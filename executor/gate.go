// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/hooksupd/hooksupd/config"
)

// Enforcement modes of the [enforce] table.
const (
	enforceOff      = "off"
	enforceAdvisory = "advisory"
	enforceEnforce  = "enforce"
)

// gate is the seed's presence-gate enforcement gate (enforce.rs). It runs around the
// chain, never inside it: an empty chain cannot apply a fail mode, so the
// absence of a required hook has to be caught before the chain runs.
type gate struct {
	mode     string
	required map[string]bool
}

func newGate(e config.Enforce) gate {
	g := gate{mode: strings.ToLower(strings.TrimSpace(e.Mode)), required: map[string]bool{}}
	switch g.mode {
	case enforceAdvisory, enforceEnforce:
	default:
		g.mode = enforceOff
	}
	for _, ev := range e.RequiredEvents {
		g.required[ev] = true
	}
	return g
}

// active reports whether the gate checks anything. An empty required list
// is a no-op even under enforce (the seed's self-DOS guard: most hosts run
// no hooks, and enforce with nothing declared must never deny everything).
func (g gate) active() bool { return g.mode != enforceOff && len(g.required) > 0 }

// forcesClosed reports whether the hooks of event run with fail_mode closed
// whatever their configuration: under enforce, a required event's hook
// that errors must not let the chain allow.
func (g gate) forcesClosed(event string) bool {
	return g.mode == enforceEnforce && g.required[event]
}

// failMode is the fail mode the chain applies to h: its own (open when
// unset), or closed when the gate forces it.
func (g gate) failMode(h *config.Hook) config.FailMode {
	if g.forcesClosed(h.Event) || h.FailMode == config.FailClosed {
		return config.FailClosed
	}
	return config.FailOpen
}

// check runs the presence and unresolved-namespace checks before c fires.
// It returns a deny Result, or nil to run the chain.
//
// Presence: a required event with no enabled hook denies 503 under enforce
// and warns under advisory. Presence is namespace-blind, as in the seed:
// a hook scoped to one namespace satisfies it (Preflight points this out).
//
// Unresolved namespace: when no namespace is given and some hook of the
// event is namespace-scoped, that hook cannot be evaluated truthfully.
// Under enforce a decision event denies 503 rather than skip a declared
// control; under advisory (and for notify events, where a deny means
// nothing) it warns and the chain runs with the wildcard hooks only.
func (g gate) check(c *chain, namespaces []string, logger *slog.Logger) *Result {
	if !g.active() {
		return nil
	}
	ev := c.event.Name
	if g.required[ev] && len(c.hooks) == 0 {
		if g.mode == enforceEnforce {
			logger.Warn("hooks.enforce: required event has no enabled hook (enforce → deny)", "event", ev)
			return &Result{Decision: ActionDeny, Code: 503, Reason: fmt.Sprintf(
				"hooks.enforce: required event %s has no enabled hook (enforce mode → fail-closed)", ev)}
		}
		logger.Warn("hooks.enforce: required event has no enabled hook (advisory → allow); "+
			"set [enforce] mode = \"enforce\" to fail closed", "event", ev)
	}
	if len(namespaces) == 0 && c.scoped() {
		if g.mode == enforceEnforce && c.event.Kind != config.KindNotify {
			logger.Warn("hooks: in-flight namespace could not be resolved and a namespace-scoped hook "+
				"is configured for this event → fail-closed deny", "event", ev)
			return &Result{Decision: ActionDeny, Code: 503, Reason: fmt.Sprintf(
				"hooks: cannot resolve the in-flight namespace for scope evaluation of %s "+
					"(a namespace-scoped hook is configured; refusing rather than silently skipping it)", ev)}
		}
		logger.Warn("hooks: in-flight namespace could not be resolved and a namespace-scoped hook "+
			"is configured for this event; the scoped hook is SKIPPED (advisory → allow)", "event", ev)
	}
	return nil
}

// PreflightLine is one line of the enforcement preflight report.
type PreflightLine struct {
	// Event is the required event the line is about.
	Event string
	// Level is slog.LevelInfo when the event is covered, slog.LevelWarn
	// under advisory or when every hook is namespace-scoped, and
	// slog.LevelError when fires of the event will be denied.
	Level slog.Level
	// Text is the operator-facing line.
	Text string
}

// String returns the line's text.
func (l PreflightLine) String() string { return l.Text }

// Preflight reports, for `hooksupd check` and the boot log, one line per
// required event: covered (OK), no enabled hook (WILL DENY under enforce,
// WARN+allow under advisory), or covered only by namespace-scoped hooks,
// which leaves every other namespace ungoverned. It returns nothing when
// the gate is off or no event is required.
func Preflight(cfg *config.Config) []PreflightLine {
	g := newGate(cfg.Enforce)
	if !g.active() {
		return nil
	}
	var out []PreflightLine
	seen := map[string]bool{}
	for _, ev := range cfg.Enforce.RequiredEvents {
		if seen[ev] {
			continue
		}
		seen[ev] = true
		hooks := cfg.HooksFor(ev)
		line := PreflightLine{Event: ev}
		switch {
		case len(hooks) == 0 && g.mode == enforceEnforce:
			line.Level = slog.LevelError
			line.Text = ev + ": REQUIRED but NO enabled hook → WILL DENY (enforce)"
		case len(hooks) == 0:
			line.Level = slog.LevelWarn
			line.Text = ev + ": required but no enabled hook → WARN+allow (advisory)"
		case allScoped(hooks):
			scopes := make([]string, len(hooks))
			for i, h := range hooks {
				scopes[i] = strings.TrimSpace(h.Namespace)
			}
			line.Level = slog.LevelWarn
			line.Text = fmt.Sprintf("%s: required, enabled hook present but EVERY hook is namespace-scoped (%s) "+
				"→ fires OUTSIDE that scope run UNGOVERNED (presence is namespace-blind; "+
				"add a namespace = \"*\" hook to cover the rest)", ev, strings.Join(scopes, ", "))
		default:
			line.Level = slog.LevelInfo
			line.Text = ev + ": required, enabled hook present (OK)"
		}
		out = append(out, line)
	}
	return out
}

func allScoped(hooks []config.Hook) bool {
	for _, h := range hooks {
		if !namespaceScoped(h.Namespace) {
			return false
		}
	}
	return len(hooks) > 0
}
