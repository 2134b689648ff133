// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
)

// hooksTOML renders a config with strict_modes on (the test hook's build
// directory is 0700 under the root-owned sticky /tmp).
func hooksTOML(bin string, blocks ...string) string {
	s := "[policy]\nstrict_modes = true\n"
	for _, b := range blocks {
		s += "\n[[hook]]\ncommand = " + fmt.Sprintf("%q", bin) + "\nnamespace = \"*\"\n" + b + "\n"
	}
	return s
}

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hooks.toml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return cfg
}

// TestDispatcherChain: a modify chain through the Dispatcher over real
// children: priority order, deltas overlaid (last writer wins), then a
// reload that removes a daemon hook stops its child.
func TestDispatcherChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		cfg := parse(t, hooksTOML(s.bin,
			`name = "high"
event = "pre_store"
priority = 10
timeout_ms = 5000
args = ["modify", "title=from high", "tags=[\"h\"]"]`,
			`name = "low"
event = "pre_store"
priority = 1
timeout_ms = 5000
args = ["modify", "title=from low"]`,
			`name = "watcher"
event = "pre_store"
priority = 5
timeout_ms = 5000
mode = "daemon"
args = ["daemon"]`,
		))
		d, err := executor.New(cfg, executor.Options{Backend: s.b})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		defer func() {
			if err := d.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		res, err := d.Fire(ctx, "pre_store", nil, json.RawMessage(`{"title":"orig","content":"c"}`))
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision != executor.ActionModify {
			t.Fatalf("result %+v", res)
		}
		if got := string(res.Delta["title"]); got != `"from low"` {
			t.Errorf("title %s: the lowest priority hook runs last and wins", got)
		}
		if got := string(res.Delta["tags"]); got != `["h"]` {
			t.Errorf("tags %s", got)
		}
		var order []string
		for _, tr := range res.Hooks {
			order = append(order, tr.Hook+":"+tr.Decision)
		}
		if fmt.Sprint(order) != "[high:modify watcher:modify low:modify]" {
			t.Errorf("trace %v", order)
		}
		st := d.Status()
		var pid int
		for _, h := range st.Hooks {
			if h.Name == "watcher" {
				pid = h.State.Pid
			}
		}
		if pid == 0 || !alive(pid) {
			t.Fatalf("daemon pid %d not running: %+v", pid, st)
		}

		// Reload without the daemon hook: its child is stopped.
		cfg2 := parse(t, hooksTOML(s.bin, `name = "high"
event = "pre_store"
priority = 10
timeout_ms = 5000
args = ["deny", "reloaded"]`))
		if err := d.Reload(cfg2); err != nil {
			t.Fatal(err)
		}
		waitGone(t, pid, 5*time.Second)
		res, err = d.Fire(ctx, "pre_store", nil, json.RawMessage(`{}`))
		if err != nil || res.Decision != executor.ActionDeny || res.Reason != "reloaded" {
			t.Fatalf("after reload: %+v %v", res, err)
		}
	})
}
