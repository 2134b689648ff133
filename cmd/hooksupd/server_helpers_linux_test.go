package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Hook scripts of the server tests. Every one reads the envelope first.
const (
	// shSlow answers deny after $1 seconds (default 1), touching
	// "$0.done" when it finishes, so a test can tell it ran to the end.
	shSlow = "#!/bin/sh\ncat >/dev/null\nsleep ${1:-1}\n: > \"$0.done\"\necho '{\"action\":\"deny\",\"reason\":\"slow\",\"code\":451}'\n"
	// shDaemon answers every request line with a modify.
	shDaemon = "#!/bin/sh\nwhile read -r line; do echo '{\"action\":\"modify\",\"delta\":{\"tags\":[\"seen\"]}}'; done\n"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a server running in the test process on a temporary
// socket, with a real Dispatcher spawning real hook children.
type testServer struct {
	t       *testing.T
	dir     string
	cfgPath string
	sock    string
	d       *executor.Dispatcher
	srv     *server
	logs    *syncBuffer
	served  chan error
	stopped bool
}

// startServerIn writes hooks.toml (body after a strict_modes=false
// policy; {{dir}} stands for dir) into dir and serves it. mod adjusts the
// server options.
func startServerIn(t *testing.T, dir, body string, mod func(*serverOptions)) *testServer {
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
	ln, sf, err := listenSocket(ts.sock, cfg.Server.SocketGroup)
	if err != nil {
		_ = ts.d.Close(context.Background())
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = ts.d.Prestart(ctx)
	cancel()
	opts := serverOptions{Dispatcher: ts.d, ConfigPath: ts.cfgPath, Server: cfg.Server, Logger: log,
		AdminUID: -1, SocketName: ts.sock}
	if mod != nil {
		mod(&opts)
	}
	ts.srv = newServer(opts)
	go func() { ts.served <- ts.srv.serve(ln) }()
	t.Cleanup(func() {
		ts.stop()
		if err := sf.remove(); err != nil {
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

// client is a test's connection to a server.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, sock string) *client {
	t.Helper()
	nc, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// send writes one request line (a value to marshal, or a raw string).
func (c *client) send(v any) {
	c.t.Helper()
	var line []byte
	switch x := v.(type) {
	case string:
		line = []byte(x)
	default:
		var err error
		if line, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.nc.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// reply is one decoded reply line, with its raw text.
type reply struct {
	raw    string
	fields map[string]json.RawMessage
}

func (r reply) id() string { return string(r.fields["id"]) }

func (r reply) str(key string) string {
	var s string
	_ = json.Unmarshal(r.fields[key], &s)
	return s
}

// code is the error code of an error reply, "" otherwise.
func (r reply) code() string {
	var e errorBody
	if raw, ok := r.fields["error"]; ok {
		_ = json.Unmarshal(raw, &e)
	}
	return e.Code
}

func (r reply) errMessage() string {
	var e errorBody
	_ = json.Unmarshal(r.fields["error"], &e)
	return e.Message
}

// recv reads one reply line.
func (c *client) recv() reply {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("recv: %v (partial %q)", err, line)
	}
	r := reply{raw: string(line)}
	if err := json.Unmarshal(line, &r.fields); err != nil {
		c.t.Fatalf("reply is not a JSON object: %q: %v", line, err)
	}
	return r
}

// roundTrip sends one request and reads one reply (for ops that are
// answered in order on an otherwise idle connection).
func (c *client) roundTrip(v any) reply {
	c.t.Helper()
	c.send(v)
	return c.recv()
}

// ping checks that the connection still works.
func (c *client) ping(id int) {
	c.t.Helper()
	r := c.roundTrip(fmt.Sprintf(`{"id":%d,"op":"ping"}`, id))
	if r.id() != fmt.Sprint(id) || string(r.fields["ok"]) != "true" {
		c.t.Fatalf("ping %d: got %s", id, r.raw)
	}
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shHook writes an executable hook script into dir and returns its path.
func shHook(t *testing.T, dir, name, body string) string {
	t.Helper()
	return writeExec(t, dir, name, body)
}

// pidAlive reports whether pid names a live process (not a zombie).
func pidAlive(pid int) bool { return pid > 0 && alive(pid) }

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// queued returns the reply bytes waiting in the queue.
func (q *replyQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}
