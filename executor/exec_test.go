// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/supervisor"
)

func TestLastNonEmptyLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"\n\n  \n":                   "",
		`{"action":"allow"}`:         `{"action":"allow"}`,
		"debug\n{\"a\":1}\n\n  \r\n": `{"a":1}`,
		"one\r\ntwo\r\n":             "two",
		"x\n\n\ny  \n":               "y",
		"\n\nonly\n":                 "only",
	} {
		if got := string(lastNonEmptyLine([]byte(in))); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	b, err := envelope("pre_store", json.RawMessage(" {\"b\": [1, 2],\n \"a\": \"x\"} "))
	if err != nil || string(b) != `{"event":"pre_store","payload":{"b":[1,2],"a":"x"}}`+"\n" {
		t.Errorf("envelope %q %v", b, err)
	}
	if b, _ := envelope("e", nil); string(b) != `{"event":"e","payload":null}`+"\n" {
		t.Errorf("nil payload: %q", b)
	}
	// A multi-line payload is compacted, which also validates it; a
	// one-line payload is the caller's (the Dispatcher's) to validate.
	if _, err := envelope("e", json.RawMessage("{\nnope")); !errors.Is(err, ErrIO) {
		t.Errorf("invalid payload: %v", err)
	}
	if b, _ := envelope("e", json.RawMessage(`{"a": 1}`)); string(b) != `{"event":"e","payload":{"a": 1}}`+"\n" {
		t.Errorf("one-line payload copied as is: %q", b)
	}
}

func TestExitErrorMessages(t *testing.T) {
	if e := exitError(supervisor.ExitStatus{Code: 3}); e.Error() != "hook child exited (code 3)" || !errors.Is(e, ErrExit) {
		t.Errorf("%v", e)
	}
	e := exitError(supervisor.ExitStatus{Code: -1, Signal: syscall.SIGKILL})
	if e.Error() != "hook child exited (signal 9: killed)" || KindOf(e).String() != "exit" {
		t.Errorf("%v", e)
	}
	if e := oomError(supervisor.Limits{MemoryMax: 1 << 20}); KindOf(e).String() != "oom_killed" || !strings.Contains(e.Error(), "memory_max 1048576") {
		t.Errorf("%v", e)
	}
}

// TestExecCloseDrains: Close lets an in-flight child finish within the
// grace; one that outlives it is killed and its fire fails with ErrClosed.
func TestExecCloseDrains(t *testing.T) {
	needSh(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	testutil.CheckFDLeak(t)
	dir := t.TempDir()
	cmd := filepath.Join(dir, "slow")
	if err := os.WriteFile(cmd, []byte("#!/bin/sh\ncat >/dev/null\nsleep \"$1\"\necho '{\"action\":\"allow\"}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := supervisor.NewPortable(supervisor.Options{})
	defer b.Close()
	r := NewRegistry(RegistryOptions{Backend: b, Policy: config.Policy{StrictModes: true}, DaemonStopGrace: 300 * time.Millisecond})
	short := config.Hook{Name: "short", Event: "pre_store", Command: cmd, Args: []string{"0.1"}, Mode: config.ModeExec, Enabled: true}
	long := short
	long.Name, long.Args = "long", []string{"30"}
	results := make(chan error, 2)
	for _, h := range []config.Hook{short, long} {
		ex, err := r.Executor(&h)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := ex.Fire(context.Background(), "pre_store", json.RawMessage(`{}`))
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // both children started
	start := time.Now()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	var closed, ok int
	for range 2 {
		switch err := <-results; {
		case err == nil:
			ok++
		case errors.Is(err, ErrClosed):
			closed++
		default:
			t.Errorf("fire: %v", err)
		}
	}
	if ok != 1 || closed != 1 {
		t.Errorf("ok %d closed %d, want 1 and 1", ok, closed)
	}
}
