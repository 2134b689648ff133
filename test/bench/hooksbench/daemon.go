// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hooksupd/hooksupd/executor"
)

// daemonEvent is a read-class event whose hooks default to daemon mode.
const daemonEvent = "post_recall"

// maxDaemonHooks is the most daemon hooks a throughput cell uses.
const maxDaemonHooks = 64

// daemonSetup is one Linux backend with daemon hooks (the C child; one
// with the Go child), and the C blocking-pipe driver.
type daemonSetup struct {
	st   *stack
	drv  *coproc
	pay  map[int]json.RawMessage
	envs map[int]int
}

func (b *bench) daemonSetup() (*daemonSetup, error) {
	var defs []hookDef
	for i := range maxDaemonHooks {
		defs = append(defs, hookDef{name: fmt.Sprintf("d-%d", i), event: daemonEvent, command: b.bin.cDaemon, mode: "daemon"})
	}
	defs = append(defs, hookDef{name: "d-go", event: daemonEvent, command: b.bin.goDaemon, mode: "daemon"})
	cfg, _, err := configOf(defs, "")
	if err != nil {
		return nil, err
	}
	st, err := newStack(cfg)
	if err != nil {
		return nil, err
	}
	d := &daemonSetup{st: st, pay: map[int]json.RawMessage{}, envs: map[int]int{}}
	if d.drv, err = startCoproc(b.bin.daemonDrv, hookEnv(daemonEvent, "bench")); err != nil {
		return nil, err
	}
	atExit(func() { d.drv.close() })
	if err := d.drv.ok("C 0 %s", b.bin.cDaemon); err != nil {
		return nil, err
	}
	if err := d.drv.ok("C 1 %s", b.bin.goDaemon); err != nil {
		return nil, err
	}
	for i, n := range []int{size200B, size64K, size1M} {
		var envb []byte
		d.pay[n], envb = envelopeOf(daemonEvent, n)
		f, err := b.writeTemp(fmt.Sprintf("daemon-%d.json", n), envb)
		if err != nil {
			return nil, err
		}
		if err := d.drv.ok("P %d %s", i, f); err != nil {
			return nil, err
		}
		d.envs[n] = i
	}
	return d, nil
}

func (d *daemonSetup) close() {
	d.drv.close()
	d.st.close()
}

// hookFire returns a closed-loop fire of the named daemon hook.
func (d *daemonSetup) hookFire(name string, size int) (func() error, error) {
	ex, err := d.st.executor(name)
	if err != nil {
		return nil, err
	}
	pay := d.pay[size]
	return func() error { return fireOnce(ex, daemonEvent, pay) }, nil
}

// rowDaemon is row 4: one daemon round trip through the executor against
// the C blocking-pipe driver at three sizes, and closed-loop throughput
// with 1, 8 and 64 daemon hooks.
func (b *bench) rowDaemon(context.Context) error {
	d, err := b.daemonSetup()
	if err != nil {
		return err
	}
	defer d.close()

	type cell struct {
		size  int
		child int // driver slot: 0 C, 1 Go
		hook  string
		label string
	}
	cells := []cell{
		{size200B, 0, "d-0", "C child"},
		{size64K, 0, "d-0", "C child"},
		{size1M, 0, "d-0", "C child"},
		{size200B, 1, "d-go", "Go child"},
	}
	for _, c := range cells {
		group := fmt.Sprintf("daemon round trip %s, %s", sizeName(c.size), c.label)
		if err := d.drv.ok("S %d 1", c.child); err != nil {
			return err
		}
		fire, err := d.hookFire(c.hook, c.size)
		if err != nil {
			return err
		}
		req := d.envs[c.size]
		cv := &variant{name: "C blocking-pipe driver", base: true, run: func(n int) (batch, error) {
			return d.drv.batch("L %d %d", req, n)
		}}
		hv := &variant{name: "hooksupd daemon executor", run: func(n int) (batch, error) { return measure(n, fire) }}
		per, rounds := b.counts(500, 50), b.counts(20, 3)
		switch c.size {
		case size64K:
			per = b.counts(250, 25)
		case size1M:
			per, rounds = b.counts(30, 5), b.counts(10, 2)
		}
		if err := interleave([]*variant{cv, hv}, per, rounds, per); err != nil {
			return fmt.Errorf("%s: %w", group, err)
		}
		base := rowFrom("4", group, cv.name, true, &cv.s)
		hr := rowFrom("4", group, hv.name, false, &hv.s)
		hr.Ratio = ratio(hr.P50, base.P50, "p50")
		hr.Note = fmt.Sprintf("p99 %s of C", ratio(hr.P99, base.P99, ""))
		switch {
		case c.label == "C child" && c.size == size200B:
			hr.Target = "p50 ≤ 1.5× C, p99 ≤ 100 µs"
			hr.Met = met(hr.P50 <= 1.5*base.P50 && hr.P99 <= 100)
		case c.label == "C child" && c.size == size1M:
			hr.Target = "p50 ≤ 1.3× C"
			hr.Met = met(hr.P50 <= 1.3*base.P50)
		}
		b.rows = append(b.rows, base, hr)
	}

	for _, k := range []int{1, 8, 64} {
		group := fmt.Sprintf("daemon throughput, %d hooks, 200 B C child", k)
		if err := d.drv.ok("S 0 %d", k); err != nil {
			return err
		}
		fires := make([]func() error, k)
		for i := range k {
			if fires[i], err = d.hookFire(fmt.Sprintf("d-%d", i), size200B); err != nil {
				return err
			}
		}
		total := b.counts(40000, 2000)
		perHook := max(total/k, 50)
		req := d.envs[size200B]
		cv := &variant{name: "C blocking-pipe driver (thread per child)", base: true, run: func(n int) (batch, error) {
			return d.drv.batch("T %d %d %d", req, k, max(n/k, 1))
		}}
		hv := &variant{name: "hooksupd daemon executors (goroutine per hook)", run: func(n int) (batch, error) {
			return measureConc(max(n/k, 1)*k, k, func(w int) error { return fires[w]() })
		}}
		if err := interleave([]*variant{cv, hv}, perHook*k/4, b.counts(4, 2), perHook*k); err != nil {
			return fmt.Errorf("%s: %w", group, err)
		}
		base := rowFrom("4", group, cv.name, true, &cv.s)
		hr := rowFrom("4", group, hv.name, false, &hv.s)
		base.Rate, hr.Rate = cv.s.rate(), hv.s.rate()
		base.pct999, hr.pct999 = true, true
		hr.Ratio = ratio(hr.Rate, base.Rate, "fires/s")
		if k == 64 {
			hr.Target = "≥ 0.8× C decisions/s, p99.9 ≤ 2 ms"
			hr.Met = met(hr.Rate >= 0.8*base.Rate && hr.P999 <= 2000)
		}
		b.rows = append(b.rows, base, hr)
	}
	return d.drv.ok("Q")
}

// rowChain is row 8: a chain of 10 daemon hooks on one event against the
// same work as 10 separate fires of a one-hook event, both through the
// Dispatcher.
func (b *bench) rowChain(context.Context) error {
	var defs []hookDef
	for i := range 10 {
		defs = append(defs, hookDef{name: fmt.Sprintf("chain-%d", i), event: "bench_chain", command: b.bin.cDaemon, mode: "daemon", priority: 100 - i})
	}
	defs = append(defs, hookDef{name: "one", event: "bench_one", command: b.bin.cDaemon, mode: "daemon", priority: 1})
	events := `[[event]]
name = "bench_chain"
deadline_ms = 5000
kind = "decision"
default_mode = "daemon"

[[event]]
name = "bench_one"
deadline_ms = 5000
kind = "decision"
default_mode = "daemon"
`
	cfg, _, err := configOf(defs, events)
	if err != nil {
		return err
	}
	st, err := newStack(cfg) // only for its backend; the Dispatcher has its own registry
	if err != nil {
		return err
	}
	defer st.close()
	disp, err := executor.New(cfg, executor.Options{Backend: st.be})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		disp.Close(ctx)
	}()
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = disp.Prestart(pctx)
	cancel()
	if err != nil {
		return err
	}
	pay, _ := envelopeOf("bench_chain", size200B)
	fire := func(event string, hooks int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := disp.Fire(ctx, event, nil, pay)
		if err != nil {
			return err
		}
		if res.Decision != executor.ActionAllow || len(res.Hooks) != hooks {
			return fmt.Errorf("%s: decision %q with %d hooks, want allow from %d", event, res.Decision, len(res.Hooks), hooks)
		}
		for _, t := range res.Hooks {
			if t.Error != "" {
				return fmt.Errorf("%s: hook %s: %s", event, t.Hook, t.Error)
			}
		}
		return nil
	}
	ten := &variant{name: "10 × one-hook fire", base: true, run: func(n int) (batch, error) {
		return measure(n, func() error {
			for range 10 {
				if err := fire("bench_one", 1); err != nil {
					return err
				}
			}
			return nil
		})
	}}
	chain := &variant{name: "one fire of a 10-hook chain", run: func(n int) (batch, error) {
		return measure(n, func() error { return fire("bench_chain", 10) })
	}}
	one := &variant{name: "one-hook fire (for reference)", run: func(n int) (batch, error) {
		return measure(n, func() error { return fire("bench_one", 1) })
	}}
	if err := interleave([]*variant{ten, chain, one}, b.counts(100, 10), b.counts(20, 3), b.counts(100, 20)); err != nil {
		return err
	}
	group := "chain of 10 daemon hooks, 200 B, Dispatcher.Fire"
	base := rowFrom("8", group, ten.name, true, &ten.s)
	cr := rowFrom("8", group, chain.name, false, &chain.s)
	or := rowFrom("8", group, one.name, false, &one.s)
	cr.Ratio = ratio(cr.P50, base.P50, "p50")
	or.Ratio = ratio(or.P50, base.P50, "p50")
	cr.Note = fmt.Sprintf("%.1f µs per hook in the chain (p50)", cr.P50/10)
	b.rows = append(b.rows, base, cr, or)
	return nil
}
