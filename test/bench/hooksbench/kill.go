// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// treeSize is the number of processes of the kill row's tree.
const treeSize = 100

// liveWithExe lists the live (not zombie) processes running exe.
func liveWithExe(exe string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && l == exe {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return false
}

// rowKill is row 7: from the fire's deadline to "all 100 processes of the
// tree are gone and the group is released", through the exec executor and
// through the supervisor alone, against killing a process group.
func (b *bench) rowKill(context.Context) error {
	limits := fmt.Sprintf("memory_max = \"256M\"\npids_max = %d", 4*treeSize)
	cfg, _, err := configOf([]hookDef{{name: "k-tree", event: execEvent, command: b.bin.cForker,
		args: []string{strconv.Itoa(treeSize)}, mode: "exec", limits: limits}}, "")
	if err != nil {
		return err
	}
	st, err := newStack(cfg)
	if err != nil {
		return err
	}
	defer st.close()
	ex, err := st.executor("k-tree")
	if err != nil {
		return err
	}
	if left := liveWithExe(b.bin.cForker); len(left) > 0 {
		return fmt.Errorf("%d %s processes already running", len(left), b.bin.cForker)
	}
	pay, _ := envelopeOf(execEvent, size200B)
	lead := 250 * time.Millisecond // the tree builds in this time
	var incomplete, leftover int

	// checkGone records a tree that is not gone when the variant returns.
	checkGone := func() {
		if n := len(liveWithExe(b.bin.cForker)); n > 0 {
			leftover++
			for _, pid := range liveWithExe(b.bin.cForker) {
				_ = unix.Kill(pid, unix.SIGKILL) // ours: the forker tree of this row
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	execV := &variant{name: "hooksupd exec executor: deadline → Fire returns (tree killed, reaped, group released)", run: func(n int) (batch, error) {
		var bt batch
		for range n {
			deadline := time.Now().Add(lead)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			counted := make(chan int, 1)
			time.AfterFunc(lead-60*time.Millisecond, func() { counted <- len(liveWithExe(b.bin.cForker)) })
			_, ferr := ex.Fire(ctx, execEvent, pay)
			done := time.Now()
			cancel()
			if c := <-counted; c < treeSize {
				incomplete++
			}
			if !errors.Is(ferr, executor.ErrTimeout) {
				return bt, fmt.Errorf("fire: %v, want a timeout", ferr)
			}
			bt.lat = append(bt.lat, done.Sub(deadline))
			checkGone()
		}
		return bt, nil
	}}

	spec := &supervisor.Spec{Pipes: supervisor.PipeAll, Name: "kill-tree", Path: b.bin.cForker, Args: []string{strconv.Itoa(treeSize)},
		Env: hookEnv(execEvent, "kill-tree"), Limits: supervisor.Limits{MemoryMax: 256 << 20, PidsMax: 4 * treeSize}}
	superV := &variant{name: "hooksupd supervisor: Kill + Release (tree gone, group released)", run: func(n int) (batch, error) {
		var bt batch
		for range n {
			p, err := st.be.Start(context.Background(), spec)
			if err != nil {
				return bt, err
			}
			p.Stdin().Close()
			p.Stderr().Close()
			out := p.Stdout()
			out.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(out).ReadString('\n')
			out.Close()
			if rerr != nil {
				p.Release()
				return bt, fmt.Errorf("tree not ready: %v %q", rerr, line)
			}
			t0 := time.Now()
			kerr := p.Kill()
			rerr = p.Release()
			bt.lat = append(bt.lat, time.Since(t0))
			if kerr != nil || rerr != nil {
				return bt, errors.Join(kerr, rerr)
			}
			checkGone()
		}
		return bt, nil
	}}

	pgV := &variant{name: "os/exec + process group: kill(-pgid, SIGKILL), wait until all are dead", base: true, run: func(n int) (batch, error) {
		var bt batch
		for range n {
			cmd := exec.Command(b.bin.cForker, strconv.Itoa(treeSize))
			cmd.Env = hookEnv(execEvent, "kill-tree")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				return bt, err
			}
			deadline := time.Now().Add(lead)
			if err := cmd.Start(); err != nil {
				return bt, err
			}
			pgid := cmd.Process.Pid
			if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				cmd.Wait()
				return bt, fmt.Errorf("tree not ready: %w", err)
			}
			tree := liveWithExe(b.bin.cForker)
			if len(tree) < treeSize {
				incomplete++
			}
			time.Sleep(time.Until(deadline))
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			cmd.Wait()
			limit := time.Now().Add(5 * time.Second)
			for _, pid := range tree {
				for alive(pid) && time.Now().Before(limit) {
					time.Sleep(20 * time.Microsecond)
				}
			}
			bt.lat = append(bt.lat, time.Since(deadline))
			checkGone()
		}
		return bt, nil
	}}

	vs := []*variant{pgV, execV, superV}
	if err := interleave(vs, 1, b.counts(20, 2), 1); err != nil {
		return err
	}
	group := fmt.Sprintf("kill a tree of %d processes", treeSize)
	base := rowFrom("7", group, pgV.name, true, &pgV.s)
	er := rowFrom("7", group, execV.name, false, &execV.s)
	sr := rowFrom("7", group, superV.name, false, &superV.s)
	er.Ratio = ratio(er.P50, base.P50, "p50")
	sr.Ratio = ratio(sr.P50, base.P50, "p50")
	er.Target = "≤ 20 ms"
	er.Met = met(er.P99 <= 20000)
	base.Note = "ends when every process of the tree is dead (a zombie counts as dead: init reaps the orphans, slowly here)"
	sr.Note = "timed from Kill()"
	er.Note = fmt.Sprintf("max %.0f µs", er.Max)
	if incomplete > 0 {
		b.note("row 7: %d times the tree had fewer than %d processes shortly before the deadline", incomplete, treeSize)
	}
	if leftover > 0 {
		b.note("row 7: %d times a process of the tree was still alive after the variant returned (killed by the bench)", leftover)
	}
	b.rows = append(b.rows, base, er, sr)
	return nil
}
