// SPDX-License-Identifier: Apache-2.0

package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Hook scripts of the server tests.
const (
	shSlow   = testutil.ShSlow
	shDaemon = testutil.ShDaemon
)

// The shared helpers, under the names these tests use.
type (
	syncBuffer = testutil.SyncBuffer
)

var (
	dial        = testutil.Dial
	waitFor     = testutil.WaitFor
	shHook      = testutil.WriteExec
	writeConfig = testutil.WriteConfig
	hookBlock   = testutil.HookBlock
	alive       = testutil.Alive
	fileExists  = testutil.FileExists
)

// pidAlive reports whether pid names a live process (not a zombie).
func pidAlive(pid int) bool { return pid > 0 && alive(pid) }

// testServer is a server running in the test process on a temporary
// socket, with a real Dispatcher spawning real hook children.
type testServer struct {
	t       *testing.T
	dir     string
	cfgPath string
	sock    string
	d       *executor.Dispatcher
	srv     *Server
	logs    *syncBuffer
	served  chan error
	stopped bool
}

// startServerIn writes hooks.toml (body after a strict_modes=false
// policy; {{dir}} stands for dir) into dir and serves it. mod adjusts the
// server options.
func startServerIn(t *testing.T, dir, body string, mod func(*Options)) *testServer {
	t.Helper()
	testutil.RequireLinux(t)
	body = strings.ReplaceAll(body, "{{dir}}", dir)
	ts := &testServer{t: t, dir: dir, cfgPath: writeConfig(t, dir, body), sock: filepath.Join(dir, "s.sock"),
		logs: &syncBuffer{}, served: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, err := config.Load(ts.cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ts.d, err = executor.New(cfg, executor.Options{Logger: log})
	if err != nil {
		t.Fatalf("dispatcher: %v", err)
	}
	ln, sf, err := listen(ts.sock, cfg.Server.SocketGroup)
	if err != nil {
		_ = ts.d.Close(context.Background())
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = ts.d.Prestart(ctx)
	cancel()
	opts := Options{Dispatcher: ts.d, ConfigPath: ts.cfgPath, Server: cfg.Server, Logger: log,
		AdminUID: -1, SocketName: ts.sock}
	if mod != nil {
		mod(&opts)
	}
	ts.srv = New(opts)
	go func() { ts.served <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ts.stop()
		if err := sf.Remove(); err != nil {
			t.Errorf("removing the socket: %v", err)
		}
		if t.Failed() {
			lines := strings.Split(ts.logs.String(), "\n")
			if len(lines) > 60 {
				lines = append([]string{"..."}, lines[len(lines)-60:]...)
			}
			t.Logf("server log:\n%s", strings.Join(lines, "\n"))
		}
	})
	return ts
}

// stop shuts the server and its Dispatcher down (idempotent).
func (ts *testServer) stop() {
	ts.t.Helper()
	if ts.stopped {
		return
	}
	ts.stopped = true
	ts.srv.shutdown(ts.srv.startCfg.DrainTimeout)
	if err := <-ts.served; err != nil {
		ts.t.Errorf("serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.d.Close(ctx); err != nil {
		ts.t.Errorf("closing the dispatcher: %v", err)
	}
}

// daemonPid returns the pid of the named daemon hook's child (0 if down).
func (ts *testServer) daemonPid(name string) int {
	for _, h := range ts.d.Status().Hooks {
		if h.Name == name {
			return h.State.Pid
		}
	}
	return 0
}

// queued returns the reply bytes waiting in the queue.
func (q *replyQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}
