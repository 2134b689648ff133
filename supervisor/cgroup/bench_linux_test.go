// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Costs of the group life cycle. Nothing is asserted: these put numbers on
// the design (per-fire group vs pool; wait after kill).

func benchManager(b *testing.B) *Manager {
	testutil.RequireRoot(b)
	if DetectMode() == Unavailable {
		b.Skip("no cgroups")
	}
	m, err := Open(Options{Name: testName()})
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

var benchLimits = Limits{MemoryMax: 256 << 20, PidsMax: 64}

func BenchmarkNewGroupDelete(b *testing.B) {
	m := benchManager(b)
	for b.Loop() {
		g, err := m.NewGroup("b", benchLimits)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Delete(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPoolGetPut(b *testing.B) {
	m := benchManager(b)
	p := m.NewPool("b", benchLimits, 2)
	defer p.Close()
	for b.Loop() {
		g, err := p.Get()
		if err != nil {
			b.Fatal(err)
		}
		p.Put(g)
	}
}

func BenchmarkBeginRunOOMKilled(b *testing.B) {
	m := benchManager(b)
	g, err := m.NewGroup("b", benchLimits)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Delete()
	for b.Loop() {
		if err := g.BeginRun(); err != nil {
			b.Fatal(err)
		}
		if _, err := g.OOMKilled(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKillWaitEmpty times Kill plus WaitEmpty of one sleeping process
// (spawned into the group outside the timer) that has run for 20 ms;
// BenchmarkKillWaitEmptyFresh kills it at once, when the kernel's 10 ms
// rate limit of cgroup.events notifications applies (WaitEmpty's short
// spin phase is there for this case).
func BenchmarkKillWaitEmpty(b *testing.B)      { benchKillWait(b, 20*time.Millisecond) }
func BenchmarkKillWaitEmptyFresh(b *testing.B) { benchKillWait(b, 0) }

func benchKillWait(b *testing.B, gap time.Duration) {
	m := benchManager(b)
	g, err := m.NewGroup("b", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Delete()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		b.StopTimer()
		cmd := exec.Command(sleep, "60")
		if g.UnifiedFD() >= 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.UnifiedFD()}
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if g.UnifiedFD() < 0 {
			if err := g.Place(cmd.Process.Pid); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(gap)
		b.StartTimer()
		if err := g.Kill(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := g.WaitEmpty(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = cmd.Wait()
		b.StartTimer()
	}
}

// fireLimits are the limit sets of the per-fire benchmarks: what an
// uncapped hook's group has (memory and pids hierarchies all the same, for
// tracking and OOM), the usual caps, and the caps with a CPU quota (one
// more hierarchy).
var fireLimits = []struct {
	name string
	l    Limits
}{
	{"uncapped", Limits{}},
	{"mem+pids", benchLimits},
	{"mem+pids+cpu", Limits{MemoryMax: 256 << 20, PidsMax: 64, CPUQuota: 50 * time.Millisecond}},
}

// BenchmarkFireGroupPath is the group bookkeeping of one fire of the Linux
// backend, on a group whose tree is gone: OOMKilled (the exit status),
// Empty (Release's check that nothing is left) and Put (back to the
// pool), which run on the fire's path and are timed as fire-ns/op; then
// Get, which the background preparation of the next launcher does (and
// with it the BeginRun that Put leaves to it).
func BenchmarkFireGroupPath(b *testing.B) {
	m := benchManager(b)
	for _, fl := range fireLimits {
		b.Run(fl.name, func(b *testing.B) {
			p := m.NewPool("b", fl.l, 2)
			defer p.Close()
			g, err := p.Get()
			if err != nil {
				b.Fatal(err)
			}
			var fire time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := g.OOMKilled(); err != nil {
					b.Fatal(err)
				}
				if empty, err := g.Empty(); err != nil || !empty {
					b.Fatal(empty, err)
				}
				p.Put(g)
				fire += time.Since(t0)
				if g, err = p.Get(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(fire.Nanoseconds())/float64(b.N), "fire-ns/op")
			p.Put(g)
		})
	}
}

// BenchmarkGroupOps puts a number on each per-fire group operation.
func BenchmarkGroupOps(b *testing.B) {
	m := benchManager(b)
	g, err := m.NewGroup("b", fireLimits[2].l)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Delete()
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"Empty", func() error { _, err := g.Empty(); return err }},
		{"OOMKilled", func() error { _, err := g.OOMKilled(); return err }},
		{"BeginRun", g.BeginRun},
		{"Stats", func() error { _, err := g.Stats(); return err }},
	} {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
