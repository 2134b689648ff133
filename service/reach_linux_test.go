// SPDX-License-Identifier: Apache-2.0

//go:build linux

package service

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

// TestHostileHookControlSocket: hooks try to connect to the control
// socket of the server that runs them and send reload. A hook with no
// user (a dynamic user, as hooksupd runs as root) is refused by the
// socket's mode; a user = "root" hook, which owns the mode bits, finds the
// socket's directory hidden (executor.HiddenPaths). Both fires end as
// their fail_mode says (deny 503), the refusal is in the log, and no
// reload reached the server, whose socket still answers the test.
func TestHostileHookControlSocket(t *testing.T) {
	testutil.RequireRoot(t)
	bin := testhook.Path(t)
	dir := testutil.HookDir(t)
	body := `[server]
socket = "{{dir}}/s.sock"

[[event]]
name = "x_dynamic"
deadline_ms = 20000

[[event]]
name = "x_root"
deadline_ms = 20000

` + hookBlock("dynamic", "x_dynamic", bin, 1, `args = ["escape", "unix", "{{dir}}/s.sock"]`, `fail_mode = "closed"`) +
		hookBlock("root", "x_root", bin, 1, `args = ["escape", "unix", "{{dir}}/s.sock"]`, `fail_mode = "closed"`, `user = "root"`)
	ts := startServerIn(t, dir, body, nil)
	for _, ev := range []string{"x_dynamic", "x_root"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := ts.d.Fire(ctx, ev, nil, json.RawMessage(`{}`))
		cancel()
		if err != nil {
			t.Fatalf("fire %s: %v", ev, err)
		}
		if res.Decision != "deny" || res.Code != 503 || len(res.Hooks) != 1 || !res.Hooks[0].Ran {
			t.Errorf("%s: %+v, want deny 503 from a hook that ran and was refused", ev, res)
		}
	}
	if n := ts.srv.stats.requests[OpReload].Load() + ts.srv.stats.reloadsOK.Load() + ts.srv.stats.reloadsFailed.Load(); n != 0 {
		t.Errorf("a hook reached the server: %d reload requests or reloads", n)
	}
	logs := ts.logs.String()
	if got := strings.Count(logs, "refused unix:"); got < 2 {
		t.Errorf("%d refusals in the log, want one per hook", got)
	}
	// The socket itself works for a client outside the sandbox.
	dial(t, ts.sock).Ping(1)
}
