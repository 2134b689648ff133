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
