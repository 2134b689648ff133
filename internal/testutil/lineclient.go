// SPDX-License-Identifier: Apache-2.0

//go:build unix

package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Hook scripts of the service tests. Every one reads the envelope first.
const (
	// ShSlow answers deny after $1 seconds (default 1), touching
	// "$0.done" when it finishes, so a test can tell it ran to the end.
	ShSlow = "#!/bin/sh\ncat >/dev/null\nsleep ${1:-1}\n: > \"$0.done\"\necho '{\"action\":\"deny\",\"reason\":\"slow\",\"code\":451}'\n"
	// ShDaemon answers every request line with a modify.
	ShDaemon = "#!/bin/sh\nwhile read -r line; do echo '{\"action\":\"modify\",\"delta\":{\"tags\":[\"seen\"]}}'; done\n"
)

// SyncBuffer is a log sink safe for concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// LineClient is a test's connection to a server.
type LineClient struct {
	t testing.TB
	// Conn and Reader are the connection and the reader replies come
	// through, for tests that misbehave on purpose.
	Conn   net.Conn
	Reader *bufio.Reader
}

// Dial connects a LineClient to the unix socket sock; the connection is
// closed when the test ends.
func Dial(t testing.TB, sock string) *LineClient {
	t.Helper()
	nc, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	c := &LineClient{t: t, Conn: nc, Reader: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// Send writes one request line (a value to marshal, or a Raw string).
func (c *LineClient) Send(v any) {
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
	_ = c.Conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Conn.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Reply is one decoded Reply line, with its Raw text.
type Reply struct {
	Raw    string
	Fields map[string]json.RawMessage
}

func (r Reply) ID() string { return string(r.Fields["id"]) }

func (r Reply) Str(key string) string {
	var s string
	_ = json.Unmarshal(r.Fields[key], &s)
	return s
}

// Code is the error Code of an error Reply, "" otherwise.
func (r Reply) Code() string {
	var e struct{ Code, Message string }
	if Raw, ok := r.Fields["error"]; ok {
		_ = json.Unmarshal(Raw, &e)
	}
	return e.Code
}

func (r Reply) ErrMessage() string {
	var e struct{ Code, Message string }
	_ = json.Unmarshal(r.Fields["error"], &e)
	return e.Message
}

// Recv reads one Reply line.
func (c *LineClient) Recv() Reply {
	c.t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := c.Reader.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("recv: %v (partial %q)", err, line)
	}
	r := Reply{Raw: string(line)}
	if err := json.Unmarshal(line, &r.Fields); err != nil {
		c.t.Fatalf("reply is not a JSON object: %q: %v", line, err)
	}
	return r
}

// RoundTrip sends one request and reads one Reply (for ops that are
// answered in order on an otherwise idle connection).
func (c *LineClient) RoundTrip(v any) Reply {
	c.t.Helper()
	c.Send(v)
	return c.Recv()
}

// Ping checks that the connection still works.
func (c *LineClient) Ping(id int) {
	c.t.Helper()
	r := c.RoundTrip(fmt.Sprintf(`{"id":%d,"op":"ping"}`, id))
	if r.ID() != fmt.Sprint(id) || string(r.Fields["ok"]) != "true" {
		c.t.Fatalf("ping %d: got %s", id, r.Raw)
	}
}

// WaitFor polls cond until it holds or limit passes.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FileExists reports whether path exists.
func FileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
