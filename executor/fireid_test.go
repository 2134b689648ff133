// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Every fire gets its own id, in the Result and in each of its log lines
// (fire_id, with the child's pid, the outcome and the duration); a
// caller's id is kept.
func TestFireIDInResultAndLogs(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	ok := script(t, dir, "ok.sh", shAllow)
	bad := script(t, dir, "bad.sh", `cat >/dev/null; echo oops >&2; exit 7`)
	cfg := testConfig(t, hookTOML("good", "pre_store", ok, 2)+hookTOML("broken", "pre_store", bad, 1))
	var logs testutil.SyncBuffer
	d, err := New(cfg, Options{Backend: portableBackend(t),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})

	r1 := fire(t, d, "pre_store", []string{"team/a"}, `{}`)
	r2 := fire(t, d, "pre_store", nil, `{}`)
	if r1.FireID == "" || r2.FireID == "" || r1.FireID == r2.FireID {
		t.Fatalf("fire ids %q and %q: want two different non-empty ids", r1.FireID, r2.FireID)
	}
	r3, err := d.Fire(WithFireID(context.Background(), "mine-1"), "pre_store", nil, json.RawMessage(`{}`))
	if err != nil || r3.FireID != "mine-1" {
		t.Fatalf("caller's id: %v, %+v", err, r3)
	}

	out := logs.String()
	for _, id := range []string{r1.FireID, r2.FireID, "mine-1"} {
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "fire_id="+id+" ") {
				lines = append(lines, l)
			}
		}
		// good answers (info), broken fails (warn) and its stderr (warn).
		if len(lines) != 3 {
			t.Errorf("fire %s: %d log lines, want 3:\n%s", id, len(lines), out)
			continue
		}
		joined := strings.Join(lines, "\n")
		for _, re := range []string{`level=INFO msg="hooks: hook answered" hook=good event=pre_store fire_id=\S+ (namespace=team/a )?child_pid=[1-9][0-9]* cpu=\S+ memory_peak=[0-9]+ outcome=allow duration=[0-9.]+[µm]?s`,
			`level=WARN msg="hooks: chain hook errored; fail_mode=open, treating as Allow" hook=broken event=pre_store fire_id=\S+ (namespace=team/a )?child_pid=[1-9][0-9]* cpu=\S+ memory_peak=[0-9]+ outcome=exit duration=\S+ err=`,
			`level=WARN msg="hooks: hook stderr at failure \(redacted\)" hook=broken fire_id=\S+ child_pid=[1-9]`} {
			if !regexp.MustCompile(re).MatchString(joined) {
				t.Errorf("fire %s: no line matches %s:\n%s", id, re, joined)
			}
		}
	}
	if !strings.Contains(out, "namespace=team/a") {
		t.Errorf("the namespace of the first fire is in none of its lines:\n%s", out)
	}
}

// Success lines are bounded per hook; the next logged one counts those
// left out.
func TestSuccessLogBudget(t *testing.T) {
	var l successLog
	logged := 0
	for i := 0; i < successBurst+5; i++ {
		if _, ok := l.take(); ok {
			logged++
		}
	}
	if logged != successBurst {
		t.Fatalf("%d of %d logged in one window, want %d", logged, successBurst+5, successBurst)
	}
	l.window = l.window.Add(-2 * successEvery) // the next window
	n, ok := l.take()
	if !ok || n != 5 {
		t.Errorf("first take of the next window: %d, %v; want 5 suppressed, logged", n, ok)
	}
}
