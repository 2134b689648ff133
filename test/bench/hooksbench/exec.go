// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"
)

const execEvent = "pre_store"

// execSetup is what rows 1-3 share: one Linux backend with an uncapped and
// a capped exec hook per child program, the C driver, the envelopes.
type execSetup struct {
	st     *stack
	drv    *coproc
	env    []string
	childs map[string]int // program path -> driver slot
	envs   map[int]int    // envelope size -> driver slot
	pay    map[int]json.RawMessage
	envb   map[int][]byte
}

func (b *bench) execSetup() (*execSetup, error) {
	defs := []hookDef{
		{name: "x-c", event: execEvent, command: b.bin.cAllow, mode: "exec"},
		{name: "x-c-capped", event: execEvent, command: b.bin.cAllow, mode: "exec", capped: true},
		{name: "x-go", event: execEvent, command: b.bin.goChild, mode: "exec"},
		{name: "x-sh", event: execEvent, command: b.bin.shAllow, mode: "exec"},
	}
	cfg, _, err := configOf(defs, "")
	if err != nil {
		return nil, err
	}
	st, err := newStack(cfg)
	if err != nil {
		return nil, err
	}
	e := &execSetup{st: st, env: hookEnv(execEvent, "bench"), childs: map[string]int{}, envs: map[int]int{},
		pay: map[int]json.RawMessage{}, envb: map[int][]byte{}}
	if e.drv, err = startCoproc(b.bin.execDrv, e.env); err != nil {
		return nil, err
	}
	atExit(func() { e.drv.close() })
	for i, p := range []string{b.bin.cAllow, b.bin.goChild, b.bin.shAllow} {
		if err := e.drv.ok("C %d %s", i, p); err != nil {
			return nil, err
		}
		e.childs[p] = i
	}
	for i, n := range []int{size200B, size64K, size1M} {
		e.pay[n], e.envb[n] = envelopeOf(execEvent, n)
		f, err := b.writeTemp(fmt.Sprintf("exec-%d.json", n), e.envb[n])
		if err != nil {
			return nil, err
		}
		if err := e.drv.ok("P %d %s", i, f); err != nil {
			return nil, err
		}
		e.envs[n] = i
	}
	return e, nil
}

func (e *execSetup) close() {
	e.drv.close()
	e.st.close()
}

// cVariant is the C posix_spawn driver.
func (e *execSetup) cVariant(name, child string, size, conc int) *variant {
	return &variant{name: name, base: true, run: func(n int) (batch, error) {
		return e.drv.batch("F %d %d %d %d", e.childs[child], e.envs[size], n, conc)
	}}
}

// hookVariant fires the named hook through its exec executor.
func (e *execSetup) hookVariant(name, hook string, size, conc int) (*variant, error) {
	ex, err := e.st.executor(hook)
	if err != nil {
		return nil, err
	}
	pay := e.pay[size]
	return &variant{name: name, run: func(n int) (batch, error) {
		if conc > 1 {
			return measureConc(n, conc, func(int) error { return fireOnce(ex, execEvent, pay) })
		}
		return measure(n, func() error { return fireOnce(ex, execEvent, pay) })
	}}, nil
}

// osexecFire is what a plain Go supervisor (the seed's approach) does:
// exec.Command, the envelope as Stdin, a buffer as Stdout, Run, parse the
// last line.
func osexecFire(path string, env []string, envelope []byte) error {
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(envelope)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return err
	}
	return parseAllow(out.Bytes())
}

func (e *execSetup) osexecVariant(name, child string, size, conc int) *variant {
	env, envb := e.env, e.envb[size]
	return &variant{name: name, run: func(n int) (batch, error) {
		if conc > 1 {
			return measureConc(n, conc, func(int) error { return osexecFire(child, env, envb) })
		}
		return measure(n, func() error { return osexecFire(child, env, envb) })
	}}
}

// naiveFire is a supervisor that caps a child the naive way: a fresh v1
// set per fire (mkdir ×3, 3 limit files), os/exec, attach after Start
// (cgroup.procs ×3), wait, rmdir ×3.
func naiveFire(sets *cgroupSets, path string, env []string, envelope []byte) error {
	name, err := sets.make()
	if err != nil {
		return err
	}
	defer sets.remove(name)
	cmd := exec.Command(path)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	aerr := sets.attach(name, cmd.Process.Pid)
	_, werr := stdin.Write(envelope)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return err
	}
	if aerr != nil {
		return aerr
	}
	if werr != nil {
		return werr
	}
	return parseAllow(out.Bytes())
}

// rowExec is row 1: one exec fire, hooksupd's exec executor (Linux
// backend, uncapped) against the C posix_spawn driver and plain os/exec,
// for three envelope sizes with the C child and 200 B with the Go and sh
// children.
func (b *bench) rowExec(context.Context) error {
	e, err := b.execSetup()
	if err != nil {
		return err
	}
	defer e.close()
	type cell struct {
		size  int
		child string
		label string
		hook  string
	}
	cells := []cell{
		{size200B, b.bin.cAllow, "C child", "x-c"},
		{size64K, b.bin.cAllow, "C child", "x-c"},
		{size1M, b.bin.cAllow, "C child", "x-c"},
		{size200B, b.bin.goChild, "Go child", "x-go"},
		{size200B, b.bin.shAllow, "sh child", "x-sh"},
	}
	for _, c := range cells {
		group := fmt.Sprintf("exec %s, %s", sizeName(c.size), c.label)
		cv := e.cVariant("C posix_spawn driver", c.child, c.size, 1)
		hv, err := e.hookVariant("hooksupd exec executor", c.hook, c.size, 1)
		if err != nil {
			return err
		}
		ov := e.osexecVariant("Go os/exec driver", c.child, c.size, 1)
		vs := []*variant{cv, hv, ov}
		warm, rounds, size := b.counts(50, 5), b.counts(20, 3), b.counts(50, 10)
		if c.label != "C child" || c.size == size1M {
			rounds = b.counts(10, 2)
		}
		if err := interleave(vs, warm, rounds, size); err != nil {
			return fmt.Errorf("%s: %w", group, err)
		}
		base := rowFrom("1", group, cv.name, true, &cv.s)
		hr := rowFrom("1", group, hv.name, false, &hv.s)
		or := rowFrom("1", group, ov.name, false, &ov.s)
		hr.Ratio = ratio(hr.P50, base.P50, "p50")
		or.Ratio = ratio(or.P50, base.P50, "p50")
		base.Note = "child CPU " + childCPU(&cv.s)
		hr.Note = fmt.Sprintf("child CPU %s; p90 %s, p99 %s of C", childCPU(&hv.s), ratio(hr.P90, base.P90, ""), ratio(hr.P99, base.P99, ""))
		or.Note = "child CPU " + childCPU(&ov.s)
		switch {
		case c.label == "C child" && c.size == size200B:
			ok := hr.P50 <= 1.05*base.P50 && hr.P50 < or.P50 && hr.P99 <= 2*base.P99 && hr.CPU <= 110
			hr.Target = "p50 ≤ 1.05× C and below os/exec, p99 ≤ 2× C's p99, CPU ≤ 110 µs/fire"
			hr.Met = met(ok)
			if !ok {
				hr.Met += fmt.Sprintf(" (p50 %.2f× C, %.2f× os/exec; p99 %.2f× C; CPU %.0f µs)",
					hr.P50/base.P50, hr.P50/or.P50, hr.P99/base.P99, hr.CPU)
			}
		case c.label == "C child" && c.size == size1M:
			hr.Target = "p50 ≤ 1.10× C"
			hr.Met = met(hr.P50 <= 1.10*base.P50)
		}
		if c.label == "C child" && c.size == size200B {
			b.cExecP50 = base.P50 // row 2 judges the capped hook against it
		}
		b.rows = append(b.rows, base, hr, or)
	}
	return nil
}

// rowCapped is row 2: the cost of memory+cpu+pids caps, back to back and
// sparse (one fire every 200 ms).
func (b *bench) rowCapped(context.Context) error {
	e, err := b.execSetup()
	if err != nil {
		return err
	}
	defer e.close()
	sets, err := newCgroupSets("naive")
	if err != nil {
		b.note("row 2: no naive-caps baseline here: %v", err)
		sets = nil
	} else {
		defer sets.close()
	}
	mk := func() ([]*variant, error) {
		un, err := e.hookVariant("hooksupd uncapped", "x-c", size200B, 1)
		if err != nil {
			return nil, err
		}
		un.base = true
		cp, err := e.hookVariant("hooksupd capped", "x-c-capped", size200B, 1)
		if err != nil {
			return nil, err
		}
		if sets == nil {
			return []*variant{un, cp}, nil
		}
		env, envb, child := e.env, e.envb[size200B], b.bin.cAllow
		nv := &variant{name: "naive caps (os/exec + mkdir/limits/attach/rmdir per fire)", run: func(n int) (batch, error) {
			return measure(n, func() error { return naiveFire(sets, child, env, envb) })
		}}
		return []*variant{un, cp, nv}, nil
	}
	emit := func(group string, vs []*variant, sparseRow bool) {
		base := rowFrom("2", group, vs[0].name, true, &vs[0].s)
		cp := rowFrom("2", group, vs[1].name, false, &vs[1].s)
		cp.Ratio = ratio(cp.P50, base.P50, "p50")
		cp.Note = fmt.Sprintf("p50 %+.0f µs, p99 %+.0f µs, max %+.0f µs vs uncapped", cp.P50-base.P50, cp.P99-base.P99, cp.Max-base.Max)
		if sparseRow {
			cp.Target = "never > +1 ms over uncapped (p99 and max)"
			ok := cp.P99 <= base.P99+1000 && cp.Max <= base.Max+1000
			cp.Met = met(ok)
			base.Note = fmt.Sprintf("max %.0f µs", base.Max)
		} else {
			cp.Target = "p50 ≤ 1.10× C posix_spawn of the uncapped child (row 1); ≤ uncapped + 70 µs"
			cp.Met = met(cp.P50 <= base.P50+70 && (b.cExecP50 == 0 || cp.P50 <= 1.10*b.cExecP50))
			if b.cExecP50 > 0 {
				cp.Note += "; " + ratio(cp.P50, b.cExecP50, "of row 1's C p50")
			}
		}
		b.rows = append(b.rows, base, cp)
		if len(vs) > 2 {
			nv := rowFrom("2", group, vs[2].name, false, &vs[2].s)
			nv.Ratio = ratio(nv.P50, base.P50, "p50")
			nv.Note = fmt.Sprintf("p50 %+.0f µs, p99 %+.0f µs vs uncapped", nv.P50-base.P50, nv.P99-base.P99)
			b.rows = append(b.rows, nv)
		}
	}
	vs, err := mk()
	if err != nil {
		return err
	}
	if err := interleave(vs, b.counts(50, 5), b.counts(20, 3), b.counts(50, 10)); err != nil {
		return err
	}
	emit("exec 200 B C child, back to back", vs, false)

	if vs, err = mk(); err != nil {
		return err
	}
	if err := sparse(vs, b.counts(60, 4), 200*time.Millisecond); err != nil {
		return err
	}
	emit("exec 200 B C child, sparse (1 fire / 200 ms)", vs, true)
	return nil
}

// rowExecThroughput is row 3: closed-loop exec fires with 1, 2, 8 and 16
// in flight.
func (b *bench) rowExecThroughput(context.Context) error {
	e, err := b.execSetup()
	if err != nil {
		return err
	}
	defer e.close()
	for _, conc := range []int{1, 2, 8, 16} {
		group := fmt.Sprintf("exec throughput, %d concurrent, 200 B C child", conc)
		cv := e.cVariant("C posix_spawn driver (threads)", b.bin.cAllow, size200B, conc)
		hv, err := e.hookVariant("hooksupd exec executor", "x-c", size200B, conc)
		if err != nil {
			return err
		}
		ov := e.osexecVariant("Go os/exec driver", b.bin.cAllow, size200B, conc)
		vs := []*variant{cv, hv, ov}
		per := max(b.counts(300, 40), conc*b.counts(25, 4))
		if err := interleave(vs, conc*4, b.counts(4, 2), per); err != nil {
			return fmt.Errorf("%s: %w", group, err)
		}
		rows := make([]Row, 3)
		for i, v := range vs {
			rows[i] = rowFrom("3", group, v.name, v.base, &v.s)
			rows[i].Rate = v.s.rate()
			rows[i].Note = "child CPU " + childCPU(&v.s)
		}
		for i := 1; i < 3; i++ {
			rows[i].Ratio = ratio(rows[i].Rate, rows[0].Rate, "fires/s")
		}
		if conc == 2 || conc == 8 {
			rows[1].Target = "≥ 0.85× C fires/s, no failed fire"
			rows[1].Met = met(rows[1].Rate >= 0.85*rows[0].Rate && rows[1].Errors == 0)
		}
		b.rows = append(b.rows, rows...)
	}
	return nil
}

// childCPU formats the CPU of the reaped children per fire: the hook's
// exec, run and exit (and, for hooksupd, the launcher it replaced).
func childCPU(s *samples) string {
	return fmt.Sprintf("%.0f µs/fire", us(s.childCPU)/float64(max(s.ops, 1)))
}
