// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

func TestHookKeyFingerprint(t *testing.T) {
	base := config.Hook{
		Name: "h", Event: "pre_store", Command: "/bin/h", Args: []string{"a"},
		Env: map[string]string{"A": "1", "B": "2"}, PassEnv: []string{"LANG"}, Mode: config.ModeDaemon,
		Priority: 1, Timeout: time.Second, FailMode: config.FailOpen, Namespace: "*", Enabled: true,
	}
	key := func(h *config.Hook) string { return planKey(h, h.Mode) }
	k := key(&base)
	// Fields that only steer the chain keep the key (and the daemon).
	for _, mut := range []func(h *config.Hook){
		func(h *config.Hook) { h.Priority = 99 },
		func(h *config.Hook) { h.Timeout = time.Minute },
		func(h *config.Hook) { h.FailMode = config.FailClosed },
		func(h *config.Hook) { h.Namespace = "team/*" },
		func(h *config.Hook) { h.Enabled = false },
		func(h *config.Hook) { h.Index, h.Pos = 7, config.Position{Line: 9} },
		func(h *config.Hook) { h.Env = map[string]string{"B": "2", "A": "1"} },
	} {
		h := base
		mut(&h)
		if key(&h) != k {
			t.Errorf("key changed for %+v", h)
		}
	}
	// Fields that affect the child change it.
	for _, mut := range []func(h *config.Hook){
		func(h *config.Hook) { h.Name = "other" },
		func(h *config.Hook) { h.Command = "/bin/g" },
		func(h *config.Hook) { h.Args = []string{"b"} },
		func(h *config.Hook) { h.Env = map[string]string{"A": "1"} },
		func(h *config.Hook) { h.PassEnv = nil },
		func(h *config.Hook) { h.Dir = "/srv" },
		func(h *config.Hook) { h.Mode = config.ModeExec },
		func(h *config.Hook) { h.Limits.MemoryMax = 1 << 20 },
		func(h *config.Hook) { h.AllowUncapped = true },
		func(h *config.Hook) { h.User = "nobody" },
		func(h *config.Hook) { h.StdoutMaxBytes = 10 },
		func(h *config.Hook) { h.MaxConcurrency = 2 },
	} {
		h := base
		mut(&h)
		if key(&h) == k {
			t.Errorf("key unchanged for %+v", h)
		}
	}
}

func TestRegistryExecutorCache(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if _, err := NewRegistry(RegistryOptions{}).Executor(&config.Hook{Name: "x"}); err == nil {
		t.Error("registry without a backend accepted a hook")
	}
	b, _ := supervisor.NewPortable(supervisor.Options{})
	defer b.Close()
	r := NewRegistry(RegistryOptions{Backend: b})
	if _, err := r.Executor(nil); err == nil {
		t.Error("nil hook accepted")
	}
	h := config.Hook{Name: "x", Event: "pre_store", Command: "/bin/true", Mode: config.ModeExec, Enabled: true}
	e1, _ := r.Executor(&h)
	h.Priority = 5
	e2, _ := r.Executor(&h)
	if e1 != e2 {
		t.Error("same key, different executors")
	}
	h.Mode = "" // resolved from the event's default (exec for pre_store)
	if st, _ := r.State("x"); st.Mode != config.ModeExec {
		t.Errorf("state %+v", st)
	}
	d := config.Hook{Name: "d", Event: "pre_recall_expand", Command: "/bin/true", Enabled: true}
	ex, _ := r.Executor(&d)
	if _, ok := ex.(*daemonExecutor); !ok {
		t.Errorf("pre_recall_expand defaults to daemon mode, got %T", ex)
	}
	r.Reconcile(context.Background(), []config.Hook{h})
	if _, ok := r.State("d"); ok {
		t.Error("removed hook kept")
	}
	if _, ok := r.State("x"); !ok {
		t.Error("kept hook removed")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Executor(&h); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := e1.Fire(context.Background(), "pre_store", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("fire on a closed executor: %v", err)
	}
}

func TestRestartDelay(t *testing.T) {
	for n, base := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000} {
		base *= time.Millisecond
		for range 50 {
			d := restartDelay(n)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("restartDelay(%d) = %v, want %v ±20%%", n, d, base)
			}
		}
	}
	if d := restartDelay(1000); d > 6*time.Second {
		t.Errorf("no cap: %v", d)
	}
}
