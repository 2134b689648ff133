// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/config"
)

const presenceReason = "hooks.enforce: required event pre_store has no enabled hook (enforce mode → fail-closed)"

func TestGatePresence(t *testing.T) {
	empty, _, _ := testChain(preEvt)
	withHook, _, _ := testChain(preEvt, th{name: "h", exe: answer(dAllow)})
	tests := []struct {
		name     string
		enforce  config.Enforce
		c        *chain
		deny     bool
		warnLike string
	}{
		{"off", config.Enforce{Mode: "off", RequiredEvents: []string{"pre_store"}}, empty, false, ""},
		{"unset mode is off", config.Enforce{RequiredEvents: []string{"pre_store"}}, empty, false, ""},
		{"unknown mode is off", config.Enforce{Mode: "strict", RequiredEvents: []string{"pre_store"}}, empty, false, ""},
		{"enforce denies", config.Enforce{Mode: "enforce", RequiredEvents: []string{"pre_store"}}, empty, true, ""},
		{"enforce is case-insensitive", config.Enforce{Mode: " Enforce ", RequiredEvents: []string{"pre_store"}}, empty, true, ""},
		{"enforce, hook present", config.Enforce{Mode: "enforce", RequiredEvents: []string{"pre_store"}}, withHook, false, ""},
		{"enforce, event not required", config.Enforce{Mode: "enforce", RequiredEvents: []string{"pre_delete"}}, empty, false, ""},
		{"enforce, nothing required (self-DOS guard)", config.Enforce{Mode: "enforce"}, empty, false, ""},
		{"advisory warns", config.Enforce{Mode: "advisory", RequiredEvents: []string{"pre_store"}}, empty, false, "advisory → allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb, log := newLogBuf()
			res := newGate(tt.enforce).check(tt.c, nil, log)
			if !tt.deny {
				if res != nil {
					t.Fatalf("gate denied: %+v", res)
				}
				if tt.warnLike != "" && (!strings.Contains(lb.String(), tt.warnLike) || !strings.Contains(lb.String(), "level=WARN")) {
					t.Errorf("no warning %q in log:\n%s", tt.warnLike, lb)
				}
				return
			}
			if res == nil || res.Decision != ActionDeny || res.Code != 503 || res.Reason != presenceReason {
				t.Fatalf("gate result %+v, want deny 503 %q", res, presenceReason)
			}
		})
	}
}

func TestGateForcesClosed(t *testing.T) {
	req := []string{"pre_store"}
	if !newGate(config.Enforce{Mode: "enforce", RequiredEvents: req}).forcesClosed("pre_store") {
		t.Error("enforce does not force a required event closed")
	}
	if newGate(config.Enforce{Mode: "enforce", RequiredEvents: req}).forcesClosed("pre_delete") {
		t.Error("enforce forces a non-required event closed")
	}
	if newGate(config.Enforce{Mode: "advisory", RequiredEvents: req}).forcesClosed("pre_store") {
		t.Error("advisory forces closed")
	}
}

func TestGateUnresolvedNamespace(t *testing.T) {
	const reason = "hooks: cannot resolve the in-flight namespace for scope evaluation of pre_store " +
		"(a namespace-scoped hook is configured; refusing rather than silently skipping it)"
	enforce := newGate(config.Enforce{Mode: "enforce", RequiredEvents: []string{"pre_delete"}})
	advisory := newGate(config.Enforce{Mode: "advisory", RequiredEvents: []string{"pre_delete"}})
	off := newGate(config.Enforce{Mode: "off", RequiredEvents: []string{"pre_delete"}})

	wild := answer(dAllow)
	scoped := answer(dAllow)
	c, _, _ := testChain(preEvt, th{name: "wild", exe: wild}, th{name: "scoped", exe: scoped, ns: "team/*"})

	// enforce + decision event + no namespace + a scoped hook: deny 503.
	if res := enforce.check(c, nil, discardLogger()); res == nil || res.Code != 503 || res.Reason != reason {
		t.Fatalf("enforce: %+v", res)
	}
	// A namespace resolves: proceed.
	if res := enforce.check(c, []string{"team/a"}, discardLogger()); res != nil {
		t.Fatalf("enforce with namespace: %+v", res)
	}
	// Every hook a wildcard: the namespace is irrelevant.
	allWild, _, _ := testChain(preEvt, th{name: "w1", exe: answer(dAllow)}, th{name: "w2", exe: answer(dAllow), ns: " * "})
	if res := enforce.check(allWild, nil, discardLogger()); res != nil {
		t.Fatalf("enforce, wildcards only: %+v", res)
	}
	// off: nothing.
	if res := off.check(c, nil, discardLogger()); res != nil {
		t.Fatalf("off: %+v", res)
	}
	// advisory: WARN, and the chain runs with the wildcard hooks only.
	lb, log := newLogBuf()
	if res := advisory.check(c, nil, log); res != nil {
		t.Fatalf("advisory: %+v", res)
	}
	if !strings.Contains(lb.String(), "SKIPPED (advisory → allow)") {
		t.Errorf("advisory did not warn:\n%s", lb)
	}
	res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
	if res.Decision != ActionAllow || wild.calls() != 1 || scoped.calls() != 0 {
		t.Errorf("advisory chain: %+v, wild %d scoped %d", res, wild.calls(), scoped.calls())
	}
	// A notify event cannot deny: enforce degrades to the advisory warning.
	n, _, _ := testChain(postEvt, th{name: "scoped", exe: answer(dAllow), ns: "team"})
	lb, log = newLogBuf()
	if res := enforce.check(n, nil, log); res != nil || !strings.Contains(lb.String(), "level=WARN") {
		t.Errorf("notify event under enforce: %+v\n%s", res, lb)
	}
}

func TestPreflight(t *testing.T) {
	hook := func(name, event, ns string, enabled bool) config.Hook {
		return config.Hook{Name: name, Event: event, Namespace: ns, Enabled: enabled, Priority: 1}
	}
	cfg := &config.Config{
		Hooks: []config.Hook{
			hook("store", "pre_store", "*", true),
			hook("del-a", "pre_delete", "team/*", true),
			hook("del-b", "pre_delete", "ops", true),
			hook("link-off", "pre_link", "*", false),
			hook("mixed-scoped", "pre_promote", "x", true),
			hook("mixed-wild", "pre_promote", "", true),
		},
		Enforce: config.Enforce{Mode: "enforce", RequiredEvents: []string{"pre_store", "pre_delete", "pre_link", "pre_promote", "pre_store"}},
	}
	got := Preflight(cfg)
	want := []PreflightLine{
		{"pre_store", slog.LevelInfo, "pre_store: required, enabled hook present (OK)"},
		{"pre_delete", slog.LevelWarn, "pre_delete: required, enabled hook present but EVERY hook is namespace-scoped (team/*, ops) " +
			"→ fires OUTSIDE that scope run UNGOVERNED (presence is namespace-blind; add a namespace = \"*\" hook to cover the rest)"},
		{"pre_link", slog.LevelError, "pre_link: REQUIRED but NO enabled hook → WILL DENY (enforce)"},
		{"pre_promote", slog.LevelInfo, "pre_promote: required, enabled hook present (OK)"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines: %v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	cfg.Enforce.Mode = "advisory"
	if l := Preflight(cfg)[2]; l.Level != slog.LevelWarn || l.Text != "pre_link: required but no enabled hook → WARN+allow (advisory)" {
		t.Errorf("advisory line %+v", l)
	}
	cfg.Enforce.Mode = "off"
	if l := Preflight(cfg); l != nil {
		t.Errorf("off: %v", l)
	}
	cfg.Enforce = config.Enforce{Mode: "enforce"}
	if l := Preflight(cfg); l != nil {
		t.Errorf("nothing required: %v", l)
	}
}

// Namespace gating (docs/seed-compatibility.md): which hooks a fire reaches, and the
// payload namespace the host resolved.

func TestChainNamespaces(t *testing.T) {
	mk := func() (*chain, map[string]*fakeExec) {
		e := map[string]*fakeExec{"all": answer(dAllow), "team": answer(dAllow), "other": answer(dAllow), "blank": answer(dAllow)}
		c, _, _ := testChain(preEvt,
			th{name: "all", exe: e["all"], ns: "*"},
			th{name: "team", exe: e["team"], ns: "team/*"},
			th{name: "other", exe: e["other"], ns: "other"},
			th{name: "blank", exe: e["blank"], ns: "  "})
		return c, e
	}
	tests := []struct {
		nss  []string
		want []string
	}{
		{nil, []string{"all", "blank"}},
		{[]string{}, []string{"all", "blank"}},
		{[]string{"team"}, []string{"all", "team", "blank"}},
		{[]string{"team/x/y"}, []string{"all", "team", "blank"}},
		{[]string{"teamwork"}, []string{"all", "blank"}},
		{[]string{"teamwork", "other"}, []string{"all", "other", "blank"}},
		{[]string{"other", "team/a"}, []string{"all", "team", "other", "blank"}},
	}
	for _, tt := range tests {
		c, e := mk()
		res := c.fire(context.Background(), tt.nss, json.RawMessage(`{}`))
		var ran []string
		for _, tr := range res.Hooks {
			ran = append(ran, tr.Hook)
		}
		if !reflect.DeepEqual(ran, tt.want) {
			t.Errorf("namespaces %q: ran %v, want %v", tt.nss, ran, tt.want)
		}
		for _, n := range tt.want {
			if e[n].calls() != 1 {
				t.Errorf("namespaces %q: %s called %d times", tt.nss, n, e[n].calls())
			}
		}
	}
}

// TestChainNamespaceOverwrite: with exactly one namespace the payload's
// "namespace" is the resolved one, whatever the body said (docs/seed-compatibility.md).
func TestChainNamespaceOverwrite(t *testing.T) {
	tests := []struct {
		nss      []string
		in, want string
	}{
		{[]string{"team/x"}, `{"content":"c","namespace":"spoofed"}`, `{"content":"c","namespace":"team/x"}`},
		{[]string{"team/x"}, `{"content":"c"}`, `{"content":"c","namespace":"team/x"}`},
		{[]string{"a<b>"}, `{}`, `{"namespace":"a<b>"}`},
		{[]string{"a", "b"}, `{"namespace":"spoofed"}`, `{"namespace":"spoofed"}`},
		{nil, `{"namespace":"spoofed"}`, `{"namespace":"spoofed"}`},
		{[]string{"team/x"}, `[1]`, `[1]`},
		{[]string{"team/x"}, `"s"`, `"s"`},
	}
	for _, tt := range tests {
		e := answer(dAllow)
		c, _, _ := testChain(preEvt, th{name: "h", exe: e})
		c.fire(context.Background(), tt.nss, json.RawMessage(tt.in))
		if got := e.seen(0); got != tt.want {
			t.Errorf("namespaces %q, payload %s: hook saw %s, want %s", tt.nss, tt.in, got, tt.want)
		}
	}
	// The overwritten payload is what a modify result carries.
	c, _, _ := testChain(preEvt, th{name: "m", exe: answer(dModify(`{"content":"z"}`))})
	res := c.fire(context.Background(), []string{"ns1"}, json.RawMessage(`{"namespace":"x","content":"a"}`))
	if string(res.Payload) != `{"namespace":"ns1","content":"z"}` {
		t.Errorf("payload %s", res.Payload)
	}
}
