// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// slowFastConfig binds a slow exec hook to pre_delete and a fast daemon
// hook to pre_store.
func slowFastConfig(t *testing.T, dir string, slowSecs string, extra string) string {
	t.Helper()
	slow := shHook(t, dir, "slow.sh", shSlow)
	fast := shHook(t, dir, "fast.sh", shDaemon)
	return extra + hookBlock("slow", "pre_delete", slow, 1, fmt.Sprintf("args = [%q]", slowSecs)) +
		hookBlock("fast", "pre_store", fast, 1, `mode = "daemon"`)
}

// Many requests in flight on one connection; replies come back as the
// fires finish, each with the id of its request, whatever JSON value it is.
func TestServeOutOfOrderReplies(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "1", ""), nil)
	c := dial(t, ts.sock)

	c.Send(`{"id":"slow","op":"fire","event":"pre_delete","payload":{}}`)
	ids := []string{`0`, `-1.5`, `"a\u00e9"`, `{"k":[1,2]}`, `[1,"x"]`, `null`, `true`}
	for i := 1; i <= 40; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	for _, id := range ids {
		c.Send(`{"id":` + id + `,"op":"fire","event":"pre_store","payload":{"n":` + fmt.Sprint(len(id)) + `}}`)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var order []string
	for range len(ids) + 1 {
		r := c.Recv()
		id := r.ID()
		order = append(order, id)
		switch {
		case id == `"slow"`:
			if r.Str("decision") != "deny" || r.Str("reason") != "slow" {
				t.Errorf("slow reply: %s", r.Raw)
			}
		case want[id]:
			delete(want, id)
			// pre_store honours modify: the delta and the payload come back.
			if r.Str("decision") != "modify" || !strings.Contains(r.Raw, `"tags":["seen"]`) {
				t.Errorf("fast reply %s: %s", id, r.Raw)
			}
		default:
			t.Errorf("unexpected or duplicate id %s: %s", id, r.Raw)
		}
	}
	if len(want) > 0 {
		t.Errorf("no reply for ids %v", want)
	}
	if order[len(order)-1] != `"slow"` {
		t.Errorf("the slow fire sent first should be answered last; order %v", order)
	}
	// Ids are echoed byte for byte, escapes and spacing included.
	r := c.RoundTrip(`{"id": {"b" : "\u00e9<>"} ,"op":"ping"}`)
	if !strings.HasPrefix(r.Raw, `{"id":{"b" : "\u00e9<>"},"ok":true}`) {
		t.Errorf("id not echoed verbatim: %s", r.Raw)
	}
}

// Every error is a reply on a connection that stays usable.
func TestServeErrorReplies(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "1", "[server]\nmax_line_bytes = \"1K\"\n\n"), nil)
	c := dial(t, ts.sock)

	big := strings.Repeat("x", 2000)
	cases := []struct {
		name, line, wantID, wantCode, wantMsg string
	}{
		{"invalid JSON, id readable", `{"id":1,"op":`, "1", CodeBadRequest, "invalid JSON"},
		{"invalid JSON", `{"id":`, "null", CodeBadRequest, "invalid JSON"},
		{"not JSON at all", `hello`, "null", CodeBadRequest, "invalid JSON"},
		{"not an object", `[1,2]`, "null", CodeBadRequest, "must be a JSON object"},
		{"missing id", `{"op":"ping"}`, "null", CodeBadRequest, `missing "id"`},
		{"missing op", `{"id":2}`, "2", CodeBadRequest, `missing "op"`},
		{"unknown op", `{"id":3,"op":"explode"}`, "3", CodeBadRequest, `unknown op "explode"`},
		{"missing event", `{"id":4,"op":"fire"}`, "4", CodeBadRequest, `missing "event"`},
		{"misspelt field", `{"id":5,"op":"fire","event":"pre_store","namespaces":["a"]}`, "5", CodeBadRequest, `unknown field "namespaces"`},
		{"namespace type", `{"id":6,"op":"fire","event":"pre_store","namespace":7}`, "6", CodeBadRequest, "namespace"},
		{"trace type", `{"id":7,"op":"fire","event":"pre_store","trace":"yes"}`, "7", CodeBadRequest, `"trace"`},
		{"trailing data", `{"id":8,"op":"ping"} {"id":9}`, "8", CodeBadRequest, "trailing data"},
		{"unknown event", `{"id":10,"op":"fire","event":"no_such_event"}`, "10", CodeUnknownEvent, `"no_such_event"`},
		{"too large, id first", `{"id":11,"op":"fire","event":"pre_store","payload":{"x":"` + big + `"}}`, "11", CodeTooLarge, "max_line_bytes"},
		{"too large, id last within the kept prefix", `{"op":"fire","event":"pre_store","payload":{"x":"` + big + `"},"id":12}`, "12", CodeTooLarge, "max_line_bytes"},
		{"too large, id beyond the kept prefix", `{"op":"fire","event":"pre_store","payload":{"x":"` + strings.Repeat(big, 5) + `"},"id":13}`, "null", CodeTooLarge, "max_line_bytes"},
		{"too large, not JSON", strings.Repeat("z", 100000), "null", CodeTooLarge, "max_line_bytes"},
	}
	for i, tc := range cases {
		r := c.RoundTrip(tc.line)
		if r.ID() != tc.wantID || r.Code() != tc.wantCode || !strings.Contains(r.ErrMessage(), tc.wantMsg) {
			t.Errorf("%s: got %s; want id %s, code %s, message containing %q", tc.name, r.Raw, tc.wantID, tc.wantCode, tc.wantMsg)
		}
		c.Ping(1000 + i) // the connection survives every error
	}

	// A line of exactly max_line_bytes is accepted (\r\n counts as the end).
	pad := 1024 - len(`{"id":20,"op":"fire","event":"pre_store","payload":{"x":""}}`)
	exact := `{"id":20,"op":"fire","event":"pre_store","payload":{"x":"` + strings.Repeat("y", pad) + `"}}`
	if len(exact) != 1024 {
		t.Fatalf("test line is %d bytes", len(exact))
	}
	if r := c.RoundTrip(exact + "\r"); r.Str("decision") != "modify" {
		t.Errorf("line of exactly max_line_bytes: %s", r.Raw)
	}
	if r := c.RoundTrip(exact[:len(exact)-2] + `}}}`); r.Code() != CodeTooLarge {
		t.Errorf("max_line_bytes+1: %s", r.Raw)
	}
	// Blank lines are ignored.
	c.Send("")
	c.Send("  \r")
	c.Ping(30)

	// Messages never echo hook output; error replies carry a code a
	// client can switch on, and the counters see them.
	if n := ts.srv.stats.errors[CodeTooLarge].Load(); n != 5 {
		t.Errorf("too_large counter %d, want 5", n)
	}
}

// Beyond max_inflight, fires are refused at once with overloaded, and
// the fires in flight are not disturbed.
func TestServeOverloaded(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0.5", "[server]\nmax_inflight = 2\n\n"), nil)
	a, b := dial(t, ts.sock), dial(t, ts.sock)
	a.Send(`{"id":1,"op":"fire","event":"pre_delete"}`)
	b.Send(`{"id":2,"op":"fire","event":"pre_delete"}`)
	waitFor(t, 5*time.Second, "two fires in flight", func() bool { return ts.srv.inflight.Load() == 2 })
	start := time.Now()
	r := b.RoundTrip(`{"id":3,"op":"fire","event":"pre_store"}`)
	if r.Code() != CodeOverloaded || r.ID() != "3" {
		t.Fatalf("third fire: %s", r.Raw)
	}
	if el := time.Since(start); el > 300*time.Millisecond {
		t.Errorf("overloaded took %v; it must not wait for a slot", el)
	}
	if r := a.Recv(); r.Str("decision") != "deny" {
		t.Errorf("first fire: %s", r.Raw)
	}
	if r := b.Recv(); r.Str("decision") != "deny" {
		t.Errorf("second fire: %s", r.Raw)
	}
	if r := b.RoundTrip(`{"id":4,"op":"fire","event":"pre_store"}`); r.Str("decision") != "modify" {
		t.Errorf("fire after the load is gone: %s", r.Raw)
	}
}

// max_inflight_per_conn bounds a connection's fires; beyond it the server
// stops reading, so the client is slowed down and nothing is dropped.
func TestServePerConnectionBackpressure(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0.3", "[server]\nmax_inflight_per_conn = 2\n\n"), nil)
	c := dial(t, ts.sock)
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				peak = max(peak, ts.srv.inflight.Load())
			}
		}
	}()
	for i := range 6 {
		c.Send(fmt.Sprintf(`{"id":%d,"op":"fire","event":"pre_delete"}`, i))
	}
	got := map[string]bool{}
	for range 6 {
		r := c.Recv()
		if r.Str("decision") != "deny" {
			t.Errorf("reply %s", r.Raw)
		}
		got[r.ID()] = true
	}
	close(stop)
	wg.Wait()
	if len(got) != 6 {
		t.Errorf("got replies for %v, want 6 distinct ids", got)
	}
	if peak > 2 {
		t.Errorf("%d fires of one connection were in flight; max_inflight_per_conn is 2", peak)
	}
}

// A client that goes away mid-fire: the fire runs to its end (no hook is
// half-run), then everything of the connection is released.
func TestServeClientDisconnectMidFire(t *testing.T) {
	testutil.RequireLinux(t)
	testutil.CheckFDLeak(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0.5", ""), nil)
	for i := range 3 {
		c := dial(t, ts.sock)
		c.Send(`{"id":1,"op":"fire","event":"pre_delete"}`)
		c.Send(`{"id":2,"op":"fire","event":"pre_store"}`)
		waitFor(t, 5*time.Second, "the fires to start", func() bool { return ts.srv.inflight.Load() >= 1 })
		c.Conn.Close()
		done := filepath.Join(dir, "slow.sh.done")
		waitFor(t, 10*time.Second, "the slow hook to finish", func() bool { return fileExists(done) })
		waitFor(t, 10*time.Second, "the connection to be released", func() bool {
			return ts.srv.stats.connsOpen.Load() == 0 && ts.srv.inflight.Load() == 0
		})
		if err := os.Remove(done); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	ts.stop()
}

// A client that never reads its replies: the server's memory for it stays
// bounded, its reads stop, other clients are served, and after the write
// timeout its connection is closed and logged.
func TestServeClientNeverReads(t *testing.T) {
	dir := testutil.HookDir(t)
	const queueBytes = 64 << 10
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "1", "[server]\nmax_inflight_per_conn = 4\n\n"), func(o *Options) {
		o.QueueBytes = queueBytes
		o.WriteTimeout = 1500 * time.Millisecond
	})
	payload := `{"blob":"` + strings.Repeat("p", 8<<10) + `"}`
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	stuck := dial(t, ts.sock)
	var sent int
	writerDone := make(chan error, 1)
	go func() {
		line := []byte(`{"id":0,"op":"fire","event":"pre_store","payload":` + payload + "}\n")
		for sent = 0; sent < 4000; sent++ { // 33 MB if the server took it all
			if _, err := stuck.Conn.Write(line); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()

	// While it is stuck, the server keeps serving others.
	var maxQueued int
	other := dial(t, ts.sock)
	for i := range 10 {
		r := other.RoundTrip(fmt.Sprintf(`{"id":%d,"op":"fire","event":"pre_store","payload":{"i":%d}}`, i, i))
		if r.Str("decision") != "modify" {
			t.Fatalf("other client: %s", r.Raw)
		}
		ts.srv.mu.Lock()
		for c := range ts.srv.conns {
			maxQueued = max(maxQueued, c.q.queued())
		}
		ts.srv.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-writerDone:
		t.Fatalf("the client that does not read wrote everything (err %v): no backpressure", err)
	default:
	}
	runtime.ReadMemStats(&during)
	growth := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("stuck client: %d reply bytes queued at most, heap %+d KiB while stuck", maxQueued, growth>>10)
	// Rough: the 33 MB the client tries to send, or the replies to it, must
	// not pile up in the server.
	if growth > 24<<20 {
		t.Errorf("heap grew by %d MiB while a client did not read", growth>>20)
	}
	// One reply may exceed the bound when it is alone in the queue.
	if maxQueued > queueBytes+len(payload)+256 {
		t.Errorf("%d reply bytes queued for one connection; bound %d", maxQueued, queueBytes)
	}
	select {
	case err := <-writerDone:
		if err == nil {
			t.Fatalf("wrote all %d requests", sent)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the connection of the client that never reads was not closed")
	}
	waitFor(t, 5*time.Second, "the log line", func() bool {
		return strings.Contains(ts.logs.String(), "has not read its replies")
	})
	if n := ts.srv.stats.slowClosed.Load(); n != 1 {
		t.Errorf("slow_clients_closed %d, want 1", n)
	}
	t.Logf("the server read %d of the stuck client's 4000 requests before closing it", sent)
	if sent > 1000 {
		t.Errorf("the server accepted %d requests from a client that reads nothing", sent)
	}
	other.Ping(99)
}

// allow_uids excluding the caller: every op is forbidden; a reload that
// lists it applies to the open connection at once.
func TestServePeerCredentialRefusal(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.HookDir(t)
	fast := shHook(t, dir, "fast.sh", shDaemon)
	hooks := hookBlock("fast", "pre_store", fast, 1, `mode = "daemon"`)
	ts := startServerIn(t, dir, "[server]\nallow_uids = [12345]\n\n"+hooks, nil)
	c := dial(t, ts.sock)
	for _, line := range []string{`{"id":1,"op":"ping"}`, `{"id":2,"op":"fire","event":"pre_store"}`,
		`{"id":3,"op":"status"}`, `{"id":4,"op":"reload"}`} {
		r := c.RoundTrip(line)
		if r.Code() != CodeForbidden || !strings.Contains(r.ErrMessage(), "uid 0") {
			t.Errorf("%s: got %s, want forbidden", line, r.Raw)
		}
	}
	writeConfig(t, dir, "[server]\nallow_uids = [12345]\nallow_gids = [0]\n\n"+hooks)
	if _, perr := ts.srv.reload("test"); perr != nil {
		t.Fatalf("reload: %v", perr)
	}
	if r := c.RoundTrip(`{"id":5,"op":"fire","event":"pre_store"}`); r.Str("decision") != "modify" {
		t.Errorf("after allowing gid 0: %s", r.Raw)
	}
}

// Reload: an invalid file keeps the running config (and says why); a
// valid one stops removed daemon hooks and keeps unchanged ones running.
func TestServeReload(t *testing.T) {
	dir := testutil.HookDir(t)
	d1 := shHook(t, dir, "keep.sh", shDaemon)
	d2 := shHook(t, dir, "drop.sh", shDaemon)
	keep := hookBlock("keep", "pre_store", d1, 2, `mode = "daemon"`)
	drop := hookBlock("drop", "pre_store", d2, 1, `mode = "daemon"`)
	ts := startServerIn(t, dir, keep+drop, nil)
	c := dial(t, ts.sock)
	keepPid, dropPid := ts.daemonPid("keep"), ts.daemonPid("drop")
	if keepPid == 0 || dropPid == 0 {
		t.Fatalf("daemon hooks not prestarted: keep %d drop %d", keepPid, dropPid)
	}

	writeConfig(t, dir, keep+drop+"[[hook]]\nname = \"broken\"\nevent = \"pre_store\"\ntimeout_ms = 99999999\nbogus = 1\n")
	r := c.RoundTrip(`{"id":"r1","op":"reload"}`)
	var body errorBody
	_ = json.Unmarshal(r.Fields["error"], &body)
	if body.Code != CodeInvalidConfig || len(body.Details) < 2 {
		t.Fatalf("invalid reload: %s", r.Raw)
	}
	for _, d := range body.Details {
		if !strings.Contains(ts.logs.String(), strings.ReplaceAll(d, `"`, `\"`)) {
			t.Errorf("config error %q not logged", d)
		}
	}
	if r := c.RoundTrip(`{"id":"f1","op":"fire","event":"pre_store"}`); r.Str("decision") != "modify" {
		t.Errorf("fire after a failed reload: %s", r.Raw)
	}
	if !pidAlive(dropPid) || ts.daemonPid("drop") != dropPid {
		t.Errorf("a failed reload touched the daemons")
	}

	writeConfig(t, dir, keep)
	r = c.RoundTrip(`{"id":"r2","op":"reload"}`)
	if string(r.Fields["ok"]) != "true" || string(r.Fields["hooks"]) != "1" {
		t.Fatalf("reload: %s", r.Raw)
	}
	waitFor(t, 10*time.Second, "the removed daemon to stop", func() bool { return !pidAlive(dropPid) })
	if got := ts.daemonPid("keep"); got != keepPid || !pidAlive(keepPid) {
		t.Errorf("unchanged daemon hook: pid %d -> %d (alive %v)", keepPid, got, pidAlive(keepPid))
	}
	if n := ts.srv.stats.reloadsFailed.Load(); n != 1 {
		t.Errorf("reloads failed %d, want 1", n)
	}
}

// The status op reports every hook with metrics and live state.
func TestServeStatusOp(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "0", ""), nil)
	c := dial(t, ts.sock)
	c.RoundTrip(`{"id":1,"op":"fire","event":"pre_store"}`)
	c.RoundTrip(`{"id":2,"op":"fire","event":"pre_delete"}`)
	r := c.RoundTrip(`{"id":3,"op":"status"}`)
	var st Status
	if err := json.Unmarshal(r.Fields["status"], &st); err != nil {
		t.Fatalf("status: %v: %s", err, r.Raw)
	}
	if len(st.Hooks) != 2 || st.Mechanisms.Backend == "" || st.PID != os.Getpid() || st.Server.Socket != ts.sock {
		t.Fatalf("status: %+v", st)
	}
	for _, h := range st.Hooks {
		if h.Fires != 1 || h.P50Ms <= 0 {
			t.Errorf("hook %s: fires %d p50 %v", h.Name, h.Fires, h.P50Ms)
		}
		if h.Name == "fast" && (!h.State.Running || h.State.PID == 0 || h.Mode != "daemon") {
			t.Errorf("daemon state: %+v", h)
		}
	}
	if st.Server.Requests["fire"] != 2 || st.Server.ConnectionsOpen != 1 {
		t.Errorf("server figures: %+v", st.Server)
	}
}

// Shutdown within the drain timeout answers the fires in flight; past it
// they are cancelled and answered with an error, never with the
// cancelled chain's result.
func TestServeShutdownDrain(t *testing.T) {
	for _, tc := range []struct {
		name, drain, sleep string
		wantCode           string
	}{
		{"finishes", "5s", "0.3", ""},
		{"cancelled", "100ms", "5", CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.HookDir(t)
			ts := startServerIn(t, dir, slowFastConfig(t, dir, tc.sleep, "[server]\ndrain_timeout = \""+tc.drain+"\"\n\n"), nil)
			c := dial(t, ts.sock)
			c.Send(`{"id":1,"op":"fire","event":"pre_delete"}`)
			waitFor(t, 5*time.Second, "the fire to start", func() bool { return ts.srv.inflight.Load() == 1 })
			start := time.Now()
			ts.stop()
			r := c.Recv()
			switch tc.wantCode {
			case "":
				if r.Str("decision") != "deny" {
					t.Errorf("drained fire: %s", r.Raw)
				}
			default:
				if r.Code() != tc.wantCode || !strings.Contains(r.ErrMessage(), "shut down") {
					t.Errorf("cancelled fire: %s", r.Raw)
				}
				if el := time.Since(start); el > 4*time.Second {
					t.Errorf("shutdown took %v with a 100ms drain", el)
				}
			}
			if _, err := c.Reader.ReadByte(); err == nil {
				t.Errorf("connection still open after shutdown")
			}
		})
	}
}

// A client that pipelines many small fires and never reads: the server
// stops reading it once its unread replies pass a small bound, so only a
// bounded number of its requests is ever executed (before, the replies
// were handed to the writer and no longer counted, and a 4 MiB queue
// let ~100k fires run before the write timeout closed the connection).
func TestServeUnreadRepliesStopReading(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "1", ""), func(o *Options) {
		o.WriteTimeout = 3 * time.Second
	})
	stuck := dial(t, ts.sock)
	const total = 100000
	writerDone := make(chan int, 1)
	go func() {
		line := []byte(`{"id":1,"op":"fire","event":"pre_store","payload":{}}` + "\n")
		batch := bytes.Repeat(line, 100)
		for sent := 0; sent < total; sent += 100 {
			if _, err := stuck.Conn.Write(batch); err != nil {
				writerDone <- sent
				return
			}
		}
		writerDone <- total
	}()
	fires := ts.srv.stats.requests[OpFire]
	// Wait until the server has stopped taking requests from it.
	last, still := uint64(0), 0
	for still < 10 {
		time.Sleep(50 * time.Millisecond)
		if n := fires.Load(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
	t.Logf("fires started for a client that reads nothing: %d of %d", last, total)
	// The bound: 64 KiB of ~80-byte unread replies, the socket buffers in
	// both directions, and max_inflight_per_conn fires holding slots.
	if last > 5000 {
		t.Errorf("%d of the stuck client's fires ran: the server kept reading it", last)
	}
	// A well-behaved client is served meanwhile.
	other := dial(t, ts.sock)
	if r := other.RoundTrip(`{"id":2,"op":"fire","event":"pre_store","payload":{}}`); r.Str("decision") != "modify" {
		t.Errorf("other client: %s", r.Raw)
	}
	select {
	case n := <-writerDone:
		if n == total {
			t.Errorf("the stuck client wrote all %d requests", total)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the connection of the client that never reads was not closed")
	}
}

// A storm of SIGHUPs while a reload is stuck (here: its lock held) costs
// no goroutine per signal: they coalesce into one pending reload, which
// runs once the lock is free. (Before, each SIGHUP started a goroutine
// that queued on the lock: 500 SIGHUPs left 435 goroutines.)
func TestServeSIGHUPStormCoalesces(t *testing.T) {
	dir := testutil.HookDir(t)
	ts := startServerIn(t, dir, slowFastConfig(t, dir, "1", ""), nil)
	sigs := make(chan os.Signal, 1)
	ran := make(chan error, 1)
	go func() { ran <- ts.srv.Run(sigs, make(chan error), time.Second) }()
	before := ts.srv.stats.reloadsOK.Load()
	base := runtime.NumGoroutine()
	ts.srv.reloadMu.Lock()
	for range 500 {
		sigs <- syscall.SIGHUP
	}
	grown := runtime.NumGoroutine() - base
	ts.srv.reloadMu.Unlock()
	if grown > 3 {
		t.Errorf("500 SIGHUPs during a stuck reload left %d more goroutines", grown)
	}
	waitFor(t, 10*time.Second, "the pending reload", func() bool { return ts.srv.stats.reloadsOK.Load() > before })
	time.Sleep(100 * time.Millisecond)
	if n := ts.srv.stats.reloadsOK.Load() - before; n > 2 {
		t.Errorf("%d reloads ran for one storm, want 1 or 2", n)
	}
	sigs <- syscall.SIGTERM
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}
