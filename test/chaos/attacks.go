// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Hostile clients write raw bytes: they are what the protocol must
// survive, so they do not go through Client.

func (r *run) rawDial() (*net.UnixConn, *bufio.Reader, error) {
	c, err := net.Dial("unix", r.sock)
	if err != nil {
		return nil, nil, err
	}
	uc := c.(*net.UnixConn)
	return uc, bufio.NewReaderSize(uc, 64<<10), nil
}

// expectReplies reads n reply lines; each must be valid JSON.
func (r *run) expectReplies(t *tally, br *bufio.Reader, c net.Conn, n int, what string) []string {
	c.SetReadDeadline(time.Now().Add(replyTimeout))
	var lines []string
	for len(lines) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			for range n - len(lines) {
				t.outcome(err)
			}
			return lines
		}
		t.outcome(nil)
		if !json.Valid([]byte(line)) {
			t.bad("%s: reply is not JSON: %.120q", what, line)
		}
		lines = append(lines, line)
	}
	return lines
}

// junkLines are requests that are not valid ones: each gets one error
// reply, none may fire anything or take the connection down.
var junkLines = []string{
	`{`, `[]`, `"str"`, `17`, `null`, `{"id":1}`, `{"id":2,"op":"nope"}`, `{"id":3,"op":"fire"}`,
	`{"id":4,"op":"fire","event":"no_such_event"}`,
	`{"id":5,"op":"fire","event":"chaos_good_exec","payload":{"cid":"x-junk"},"bogus":1}`,
	`{"id":6,"op":"fire","event":"chaos_good_exec","namespace":17}`,
	`{"id":{"nested":[1,2,{"x":null}]},"op":"ping","trailing":`,
	`{"id":7,"op":"ping"} {"id":8}`,
}

func (r *run) randomJunk() string {
	if r.intn(3) > 0 {
		return junkLines[r.intn(len(junkLines))]
	}
	b := make([]byte, 1+r.intn(200))
	for i := range b {
		c := byte(0x21 + r.intn(0xde))
		if c == 0x7f {
			c = 0xff
		}
		b[i] = c
	}
	return string(b)
}

// malformed sends a burst of junk lines, then a ping; every line gets one
// reply.
func (r *run) malformed(t *tally) {
	c, br, err := r.rawDial()
	if err != nil {
		return
	}
	defer c.Close()
	n := 5 + r.intn(30)
	var sb strings.Builder
	for range n {
		sb.WriteString(r.randomJunk() + "\n")
	}
	sb.WriteString(`{"id":"after-junk","op":"ping"}` + "\n")
	t.mu.Lock()
	t.sent += n + 1
	t.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.Write([]byte(sb.String())); err != nil {
		for range n + 1 {
			t.outcome(err)
		}
		return
	}
	lines := r.expectReplies(t, br, c, n+1, "malformed")
	if len(lines) == n+1 {
		// Fire replies (an unknown event) may come after the ping's.
		ok := false
		for _, l := range lines {
			ok = ok || strings.HasPrefix(l, `{"id":"after-junk","ok":true}`)
		}
		if !ok {
			t.bad("malformed: no ok reply to the ping after junk among %d replies", len(lines))
		}
	}
}

// hugeLine sends a 2 MiB line (over max_line_bytes), then a ping.
func (r *run) hugeLine(t *tally) {
	c, br, err := r.rawDial()
	if err != nil {
		return
	}
	defer c.Close()
	line := `{"id":"huge","op":"fire","event":"chaos_good_exec","payload":{"pad":"` + strings.Repeat("p", 2<<20) + `"}}` + "\n"
	t.mu.Lock()
	t.sent += 2
	t.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.Write([]byte(line + `{"id":"after-huge","op":"ping"}` + "\n")); err != nil {
		t.outcome(err)
		t.outcome(err)
		return
	}
	lines := r.expectReplies(t, br, c, 2, "huge line")
	if len(lines) == 2 && (!strings.Contains(lines[0], `"too_large"`) || !strings.Contains(lines[1], `"ok":true`)) {
		t.bad("huge line: replies %.100q, %.100q", lines[0], lines[1])
	}
}

// connectClose opens connections and closes them at once, some after half
// a request, some right after a whole fire (whose hook may well run; its
// reply has nowhere to go).
func (r *run) connectClose(t *tally, n int) {
	for i := range n {
		c, _, err := r.rawDial()
		if err != nil {
			return
		}
		switch i % 3 {
		case 1:
			c.Write([]byte(`{"id":1,"op":"fire","ev`))
		case 2:
			c.Write([]byte(fmt.Sprintf(`{"id":1,"op":"fire","event":"chaos_good_exec","payload":{"cid":"x-cc-%d"}}`+"\n", i)))
		}
		c.Close()
	}
}

// goodPipelined writes n good fires at once on one connection, optionally
// half-closes, then reads the replies with pause between them (a slow
// reader); every fire must be answered by its hook. An attacker (judge
// unset) only needs a reply to each: when it overloads the service its
// own fires may time out, and that is its business, not a violation.
func (r *run) goodPipelined(t *tally, prefix, event string, n int, halfClose, judge bool, pause time.Duration) {
	c, br, err := r.rawDial()
	if err != nil {
		return
	}
	defer c.Close()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"id":%d,"op":"fire","event":%q,"payload":{"cid":"%s-%d"}}`+"\n", i, event, prefix, i)
	}
	t.mu.Lock()
	t.sent += n
	t.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.Write([]byte(sb.String())); err != nil {
		for range n {
			t.outcome(err)
		}
		return
	}
	if halfClose {
		c.CloseWrite()
	}
	got := 0
	for got < n {
		c.SetReadDeadline(time.Now().Add(replyTimeout))
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.mu.Lock()
			for i := got; i < n; i++ {
				t.inDoubt[fmt.Sprintf("%s-%d", prefix, i)] = true
			}
			t.mu.Unlock()
			for range n - got {
				t.outcome(err)
			}
			return
		}
		got++
		t.outcome(nil)
		var rep struct {
			ID       int    `json:"id"`
			Decision string `json:"decision"`
			Reason   string `json:"reason"`
		}
		cid := ""
		if err := json.Unmarshal(line, &rep); err == nil {
			cid = fmt.Sprintf("%s-%d", prefix, rep.ID)
		}
		switch {
		case cid != "" && !judge && rep.Reason != "chaos-ok "+cid:
			t.mu.Lock()
			t.inDoubt[cid] = true
			t.attackerFailed++
			t.mu.Unlock()
		case cid == "" || rep.Decision != "deny" || rep.Reason != "chaos-ok "+cid:
			t.bad("pipelined %s: got %.200s", prefix, line)
		default:
			t.mu.Lock()
			t.replied[cid] = true
			t.mu.Unlock()
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	if halfClose {
		c.SetReadDeadline(time.Now().Add(replyTimeout))
		if _, err := br.ReadByte(); err == nil {
			t.bad("half-close %s: more than %d replies", prefix, n)
		}
	}
}

// hostileClients runs rounds of every hostile client until ctx ends.
func (r *run) hostileClients(ctx context.Context, t *tally, idx int) {
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := seq.Add(1)
				switch r.intn(6) {
				case 0:
					r.malformed(t)
				case 1:
					r.hugeLine(t)
				case 2:
					r.connectClose(t, 10)
				case 3:
					r.goodPipelined(t, fmt.Sprintf("g%d-hc%d-%d", idx, w, k), eventOf("good-daemon"), 1+r.intn(20), true, true, 0)
				case 4:
					r.goodPipelined(t, fmt.Sprintf("g%d-sr%d-%d", idx, w, k), eventOf("good-daemon"), 32, false, true, 10*time.Millisecond)
				case 5:
					r.goodPipelined(t, fmt.Sprintf("g%d-pe%d-%d", idx, w, k), eventOf("good-exec"), 8, false, true, 0)
				}
			}
		})
	}
	wg.Wait()
}

// neverReader pipelines up to n fires of the daemon hook and never reads a
// reply (it must not slow the others down).
func (r *run) neverReader(ctx context.Context, t *tally, n int) {
	c, _, err := r.rawDial()
	if err != nil {
		return
	}
	defer c.Close()
	var buf []byte
	written := 0
	for written < n && ctx.Err() == nil {
		buf = buf[:0]
		for i := 0; i < 256 && written+i < n; i++ {
			buf = fmt.Appendf(buf, `{"id":%d,"op":"fire","event":"chaos_good_daemon","payload":{"cid":"x-nr-%d"}}`+"\n", written+i, written+i)
		}
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		k, err := c.Write(buf)
		written += strings.Count(string(buf[:k]), "\n")
		if err != nil && !isTimeout(err) {
			break
		}
	}
	t.mu.Lock()
	t.neverConns++
	t.neverFires += written
	t.mu.Unlock()
	<-ctx.Done()
}

// slowPipeline keeps 512 fires of the slow exec hook in flight from one
// connection (the others' exec fires must not queue behind them).
func (r *run) slowPipeline(ctx context.Context, t *tally, idx int) {
	for k := 0; ctx.Err() == nil; k++ {
		r.goodPipelined(t, fmt.Sprintf("g%d-sp-%d", idx, k), eventOf("good-slow"), 512, false, false, 0)
	}
}

// reloadStorm rewrites the config, good and broken in turn, and sends
// SIGHUP after each write, until ctx ends; it leaves a good config.
func (r *run) reloadStorm(ctx context.Context, t *tally) {
	n := 0
	for ctx.Err() == nil {
		r.cfgVariant++
		broken := r.cfgVariant%2 == 1
		if err := r.writeConfig(r.config(r.cfgVariant, broken)); err != nil {
			t.note("writing the config: %v", err)
			return
		}
		_ = syscall.Kill(r.srv.pid, syscall.SIGHUP)
		n++
		time.Sleep(time.Duration(20+r.intn(100)) * time.Millisecond)
	}
	r.cfgVariant++
	if r.cfgVariant%2 == 1 {
		r.cfgVariant++
	}
	_ = r.writeConfig(r.config(r.cfgVariant, false))
	_ = syscall.Kill(r.srv.pid, syscall.SIGHUP)
	time.Sleep(time.Second)
	t.mu.Lock()
	t.sighups += n + 1
	t.mu.Unlock()
}

// pressureSignals are signals the service neither handles nor dies of:
// SIGWINCH is ignored by default, SIGURG is the Go runtime's own
// preemption signal. Each still interrupts whatever system call the
// receiving thread is in.
var pressureSignals = []unix.Signal{unix.SIGWINCH, unix.SIGURG}

// signalPressure aims harmless signals at every thread of the service at a
// high rate, until ctx ends.
func (r *run) signalPressure(ctx context.Context, t *tally) {
	pid := r.srv.pid
	sent := 0
	for ctx.Err() == nil {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			break
		}
		for range 20 {
			for _, e := range ents {
				var tid int
				fmt.Sscan(e.Name(), &tid)
				if unix.Tgkill(pid, tid, pressureSignals[sent%len(pressureSignals)]) == nil {
					sent++
				}
			}
			// Tens of thousands a second: more costs a whole CPU of a
			// small host and still only rarely hits the few microseconds
			// in which a signal interrupts a cgroup write (the unit tests
			// in supervisor/cgroup aim at one thread instead).
			time.Sleep(200 * time.Microsecond)
		}
	}
	t.mu.Lock()
	t.signals += sent
	t.mu.Unlock()
}
