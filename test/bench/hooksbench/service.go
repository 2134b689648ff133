// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serviceHooks is the number of daemon hooks (and events) the service
// config has: connection i fires event i, so 64 connections keep 64
// single-flight daemons busy, as the C driver's 64 threads do.
const serviceHooks = 64

// service is a `hooksupd serve` subprocess on a temp socket.
type service struct {
	cmd  *exec.Cmd
	sock string
	log  string
	done chan error
}

func (b *bench) startService() (*service, error) {
	var defs []hookDef
	var events strings.Builder
	for i := range serviceHooks {
		ev := fmt.Sprintf("bench_e%d", i)
		fmt.Fprintf(&events, "[[event]]\nname = %q\ndeadline_ms = 2000\nkind = \"decision\"\ndefault_mode = \"daemon\"\n\n", ev)
		defs = append(defs, hookDef{name: fmt.Sprintf("svc-%d", i), event: ev, command: b.bin.cDaemon, mode: "daemon"})
	}
	// The exec hook of the relay comparison.
	fmt.Fprintf(&events, "[[event]]\nname = %q\ndeadline_ms = 2000\nkind = \"decision\"\ndefault_mode = \"exec\"\n\n", relayExecEvent)
	defs = append(defs, hookDef{name: "svc-exec", event: relayExecEvent, command: b.bin.cAllow, mode: "exec"})
	_, text, err := configOf(defs, events.String())
	if err != nil {
		return nil, err
	}
	cfgPath, err := b.writeTemp("serve.toml", []byte(text))
	if err != nil {
		return nil, err
	}
	s := &service{sock: filepath.Join(b.tmp, "hooksupd.sock"), log: filepath.Join(b.tmp, "serve.log"), done: make(chan error, 1)}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(b.bin.hooksupd, "serve", "-c", cfgPath, "--socket", s.sock, "--log-level", "warn")
	s.cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	atExit(func() { s.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.dial()
		if err == nil {
			_, perr := c.call(`{"id":0,"op":"ping"}`)
			c.close()
			if perr == nil {
				return s, nil
			}
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return nil, fmt.Errorf("hooksupd serve exited: %v: %s", werr, s.tail())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("hooksupd serve not answering on %s after 60 s: %s", s.sock, s.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the end of the service's log.
func (s *service) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop sends SIGTERM (a clean shutdown: drain, stop the daemons, remove
// the groups and the socket) and waits; SIGKILL after 30 s.
func (s *service) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return fmt.Errorf("hooksupd serve did not stop within 30 s after SIGTERM: killed (%v)", err)
	}
}

// cpu returns the service process's own CPU (all threads), from /proc.
func (s *service) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// client is one connection, one request in flight.
type client struct {
	conn net.Conn
	r    *bufio.Reader
	id   int
	buf  []byte
}

func (s *service) dial() (*client, error) { return dialUnix(s.sock) }

func dialUnix(sock string) (*client, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return &client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (c *client) close() { c.conn.Close() }

func (c *client) call(line string) ([]byte, error) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		return nil, err
	}
	return c.r.ReadSlice('\n')
}

// fire sends one fire and checks the reply: the same id, allow.
func (c *client) fire(event string, payload []byte) error {
	c.id++
	c.buf = c.buf[:0]
	c.buf = append(c.buf, `{"id":`...)
	c.buf = strconv.AppendInt(c.buf, int64(c.id), 10)
	c.buf = append(c.buf, `,"op":"fire","event":"`...)
	c.buf = append(c.buf, event...)
	c.buf = append(c.buf, `","payload":`...)
	c.buf = append(c.buf, payload...)
	c.buf = append(c.buf, "}\n"...)
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	var rep struct {
		ID       int             `json:"id"`
		Decision string          `json:"decision"`
		Error    json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("reply %.80q: %w", line, err)
	}
	if rep.ID != c.id || rep.Decision != "allow" {
		return fmt.Errorf("reply %.120q to id %d, want allow", line, c.id)
	}
	return nil
}

// rowService is row 5: a client on the unix socket → `hooksupd serve` →
// daemon hook → reply, with 1, 8 and 64 connections, against the C
// blocking-pipe driver talking to the same child directly.
func (b *bench) rowService(context.Context) error {
	if _, err := os.Stat(b.bin.hooksupd); err != nil {
		return fmt.Errorf("%w: no hooksupd binary at %s", errSkip, b.bin.hooksupd)
	}
	if err := exec.Command(b.bin.hooksupd, "serve", "--help").Run(); err != nil {
		return fmt.Errorf("%w: this hooksupd binary has no serve command (%v)", errSkip, err)
	}
	svc, err := b.startService()
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.stop(); err != nil {
			b.note("row 5: stopping hooksupd serve: %v", err)
		}
	}()
	drv, err := startCoproc(b.bin.daemonDrv, hookEnv("bench_e0", "bench"))
	if err != nil {
		return err
	}
	defer drv.close()
	if err := drv.ok("C 0 %s", b.bin.cDaemon); err != nil {
		return err
	}
	payloads := make([][]byte, serviceHooks)
	for i := range payloads {
		p, _ := envelopeOf(fmt.Sprintf("bench_e%d", i), size200B)
		payloads[i] = p
	}
	_, envb := envelopeOf("bench_e0", size200B)
	f, err := b.writeTemp("svc-200.json", envb)
	if err != nil {
		return err
	}
	if err := drv.ok("P 0 %s", f); err != nil {
		return err
	}

	for _, k := range []int{1, 8, 64} {
		clients := make([]*client, k)
		for i := range clients {
			if clients[i], err = svc.dial(); err != nil {
				return err
			}
			defer clients[i].close()
		}
		if err := drv.ok("S 0 %d", k); err != nil {
			return err
		}
		cv := &variant{name: "C blocking-pipe driver, direct to the child", base: true, run: func(n int) (batch, error) {
			return drv.batch("T 0 %d %d", k, max(n/k, 1))
		}}
		var svcCPU time.Duration
		hv := &variant{name: "client → unix socket → hooksupd serve → daemon hook", run: func(n int) (batch, error) {
			c0 := svc.cpu()
			bt, err := measureConc(max(n/k, 1)*k, k, func(w int) error {
				return clients[w].fire(fmt.Sprintf("bench_e%d", w), payloads[w])
			})
			svcCPU += svc.cpu() - c0
			return bt, err
		}}
		total := b.counts(20000, 1000)
		if k == 1 {
			total = b.counts(10000, 1000)
		}
		if err := interleave([]*variant{cv, hv}, total/4, b.counts(4, 2), total); err != nil {
			return fmt.Errorf("%d connections: %w", k, err)
		}
		group := fmt.Sprintf("service end to end, %d connection(s), 200 B C daemon", k)
		base := rowFrom("5", group, cv.name, true, &cv.s)
		hr := rowFrom("5", group, hv.name, false, &hv.s)
		base.Rate, hr.Rate = cv.s.rate(), hv.s.rate()
		base.pct999, hr.pct999 = true, true
		hr.CPU = us(svcCPU) / float64(max(hv.s.ops, 1))
		hr.Note = fmt.Sprintf("CPU: hooksupd serve only (the client: %.1f µs/fire)", hv.s.cpuPerOp())
		if k == 1 {
			// Judged against the C relay below, the floor of a service.
			hr.Ratio = ratio(hr.P50, base.P50, "p50")
		} else {
			hr.Ratio = ratio(hr.Rate, base.Rate, "fires/s")
		}
		if k == 64 {
			hr.Target = "≥ 50k fires/s"
			hr.Met = met(hr.Rate >= 50000)
		}
		b.rows = append(b.rows, base, hr)
	}
	if err := b.rowRelay(svc); err != nil {
		return err
	}
	return drv.ok("Q")
}

// relayExecEvent is the event of the service's exec hook, and the marker
// by which the C relay tells an exec request from a daemon one.
const relayExecEvent = "bench_exec"

// relay is the C relay (test/bench/c/relay.c) on a temp socket, with the
// same daemon child and exec child the service runs.
type relay struct {
	cmd  *exec.Cmd
	in   interface{ Close() error }
	sock string
}

func (b *bench) startRelay() (*relay, error) {
	r := &relay{sock: filepath.Join(b.tmp, "relay.sock")}
	r.cmd = exec.Command(b.bin.relay, r.sock, b.bin.cDaemon, b.bin.cAllow, relayExecEvent)
	r.cmd.Env = hookEnv("bench_e0", "relay")
	r.cmd.Stderr = os.Stderr
	in, err := r.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	r.in = in
	atExit(func() { r.stop() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		r.stop()
		return nil, fmt.Errorf("c-relay did not start: %q %v", line, err)
	}
	return r, nil
}

// stop closes the relay's stdin (it exits at EOF) and reaps it.
func (r *relay) stop() {
	if r.in != nil {
		r.in.Close()
		r.in = nil
		r.cmd.Wait()
	}
}

// rowRelay compares one connection's fires through `hooksupd serve` with
// the same fires through the C relay, for the daemon hook and for the exec
// hook, from the same client code, interleaved.
func (b *bench) rowRelay(svc *service) error {
	rl, err := b.startRelay()
	if err != nil {
		return err
	}
	defer rl.stop()
	for _, hk := range []struct {
		name, event string
		target      float64
		total       int
	}{
		{"daemon", "bench_e0", 1.5, b.counts(10000, 1000)},
		{"exec", relayExecEvent, 1.10, b.counts(2000, 100)},
	} {
		payload, _ := envelopeOf(hk.event, size200B)
		rc, err := dialUnix(rl.sock)
		if err != nil {
			return err
		}
		defer rc.close()
		sc, err := svc.dial()
		if err != nil {
			return err
		}
		defer sc.close()
		rv := &variant{name: "C relay (single-threaded: socket → " + hk.name + " child → fixed reply)", base: true, run: func(n int) (batch, error) {
			return measureConc(n, 1, func(int) error { return rc.fire(hk.event, payload) })
		}}
		var svcCPU time.Duration
		hv := &variant{name: "client → unix socket → hooksupd serve → " + hk.name + " hook", run: func(n int) (batch, error) {
			c0 := svc.cpu()
			bt, err := measureConc(n, 1, func(int) error { return sc.fire(hk.event, payload) })
			svcCPU += svc.cpu() - c0
			return bt, err
		}}
		if err := interleave([]*variant{rv, hv}, hk.total/4, b.counts(4, 2), hk.total); err != nil {
			return fmt.Errorf("relay comparison, %s hook: %w", hk.name, err)
		}
		group := fmt.Sprintf("service vs the C relay, 1 connection, 200 B, C %s hook", hk.name)
		base := rowFrom("5", group, rv.name, true, &rv.s)
		hr := rowFrom("5", group, hv.name, false, &hv.s)
		base.Rate, hr.Rate = rv.s.rate(), hv.s.rate()
		base.Note = "CPU: the client (the relay's own is not measured)"
		hr.CPU = us(svcCPU) / float64(max(hv.s.ops, 1))
		hr.Note = fmt.Sprintf("CPU: hooksupd serve only (the client: %.1f µs/fire)", hv.s.cpuPerOp())
		hr.Ratio = ratio(hr.P50, base.P50, "p50")
		hr.Target = fmt.Sprintf("p50 ≤ %.2f× the C relay", hk.target)
		hr.Met = met(hr.P50 <= hk.target*base.P50)
		b.rows = append(b.rows, base, hr)
	}
	return nil
}
