// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/cgroup"
)

// Start starts spec's process inside its group. With a launcher (amd64, arm64)
// the fire takes a parked launcher that already sits in the group and
// only sends it the exec request; the clone and the cgroup migration
// happened in the background.
func (b *linuxBackend) Start(ctx context.Context, spec *Spec) (Process, error) {
	if spec == nil {
		return nil, &SpawnError{Err: errors.New("nil spec")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	if !b.beginStart() {
		return nil, ErrClosed
	}
	defer b.starts.Done()
	name := spec.Name
	if name == "" {
		name = "proc"
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 200 {
		return nil, &SpawnError{Path: spec.Path, Err: fmt.Errorf("invalid name %q: must be a path element", spec.Name)}
	}
	if err := spec.validateStdio(); err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	path, err := resolvePath(spec)
	if err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	limits, reduced, err := b.enforce(spec)
	if err != nil {
		return nil, err
	}
	key := poolKey{name: name, limits: limits, cred: credKey(spec.Credential), sandbox: spec.Sandbox.key()}
	// Pooled launchers hold pipes on all three streams.
	pipes := spec.Pipes == PipeAll
	for attempt := 0; ; attempt++ {
		pl, err := b.pool(key, spec.Credential, &spec.Sandbox, reduced)
		if err != nil {
			return nil, spawnError(spec, err)
		}
		var c *child
		switch {
		case b.exe == nil:
			c, err = b.direct(spec, path, pl)
		case pipes && !spec.LongLived:
			c, err = pl.take(ctx)
		default:
			c, err = b.prepare(pl, spec)
		}
		if errors.Is(err, errPoolClosed) { // trimmed meanwhile
			continue
		}
		if err != nil {
			return nil, spawnError(spec, err)
		}
		if b.exe != nil {
			if err = b.fire(ctx, c, spec, path); err != nil {
				c.destroy()
				if errors.Is(err, errLauncherGone) {
					if attempt < 3 {
						continue
					}
					err = supervisorFault(err)
				}
				return nil, spawnError(spec, err)
			}
		}
		p := &linuxProcess{b: b, c: c, pgid: c.pid, group: c.group}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			p.Release()
			return nil, ErrClosed
		}
		b.procs[p] = struct{}{}
		b.mu.Unlock()
		return p, nil
	}
}

// spawnError makes sure a start failure matches ErrSpawn (or
// ErrNotSupported / ErrClosed, which already say what happened).
func spawnError(spec *Spec, err error) error {
	var se *SpawnError
	if errors.As(err, &se) || errors.Is(err, ErrNotSupported) || errors.Is(err, ErrClosed) {
		return err
	}
	return &SpawnError{Path: spec.Path, Err: err}
}

// resolvePath finds a bare command name in the supervisor's PATH, as
// os/exec does; other relative paths resolve against Spec.Dir at exec.
func resolvePath(spec *Spec) (string, error) {
	if spec.Path == "" {
		return "", errors.New("empty path")
	}
	if strings.Contains(spec.Path, "/") {
		return spec.Path, nil
	}
	return exec.LookPath(spec.Path)
}

// enforce returns the group limits to apply. A limit that cannot be
// enforced is an error unless the spec allows running uncapped; then the
// enforceable subset applies, and reduced says why (logged once per pool).
func (b *linuxBackend) enforce(spec *Spec) (keep cgroup.Limits, reduced error, err error) {
	l := spec.Limits
	if !l.NeedsGroup() {
		return cgroup.Limits{}, nil, nil
	}
	reduced = b.CanEnforce(l)
	if reduced == nil {
		return groupLimits(l), nil, nil
	}
	if !spec.AllowUncapped {
		return cgroup.Limits{}, nil, reduced
	}
	if b.cg != nil {
		for _, one := range []Limits{
			{MemoryMax: l.MemoryMax},
			{CPUQuota: l.CPUQuota, CPUPeriod: l.CPUPeriod},
			{PidsMax: l.PidsMax},
			{MemoryHigh: l.MemoryHigh},
			{CPUWeight: l.CPUWeight},
		} {
			if one.NeedsGroup() && b.cg.CanEnforce(groupLimits(one)) == nil {
				keep.MemoryMax += one.MemoryMax
				keep.CPUQuota += one.CPUQuota
				keep.CPUPeriod += one.CPUPeriod
				keep.PidsMax += one.PidsMax
				keep.MemoryHigh += one.MemoryHigh
				keep.CPUWeight += one.CPUWeight
			}
		}
	}
	return keep, reduced, nil
}

// releaseBound bounds how long Release waits for the tree to die.
const releaseBound = 5 * time.Second

// linuxProcess is a started child: the pidfd is in the backend's watcher,
// the group (if any) holds its whole tree.
type linuxProcess struct {
	b    *linuxBackend
	c    *child
	pgid int

	mu       sync.RWMutex // held for reading by tree operations, for writing by Release
	group    *cgroup.Group
	released bool

	handed [3]atomic.Bool // the caller took stdio[i]

	finOnce sync.Once
	final   ExitStatus
	finErr  error

	relOnce sync.Once
	relErr  error
}

func (p *linuxProcess) Pid() int { return p.c.pid }

func (p *linuxProcess) stdio(i int) *os.File {
	p.handed[i].Store(true)
	return p.c.stdio[i]
}

// Stdin is the parent's (non-blocking) end of the child's stdin pipe.
func (p *linuxProcess) Stdin() *os.File { return p.stdio(0) }

// Stdout is the parent's (non-blocking) end of the child's stdout pipe.
func (p *linuxProcess) Stdout() *os.File { return p.stdio(1) }

// Stderr is the parent's (non-blocking) end of the child's stderr pipe.
func (p *linuxProcess) Stderr() *os.File { return p.stdio(2) }

// Done is closed by the watcher once the child has been reaped.
func (p *linuxProcess) Done() <-chan struct{} { return p.c.done }

// OnExit runs fn on the backend's pidfd watcher goroutine right after the
// reap: the one exit notification, with no goroutine or channel per
// process.
func (p *linuxProcess) OnExit(fn func()) func() bool { return p.c.exits.add(fn) }

// Wait waits for the reap, then reports the status. OOMKilled comes from
// the group's oom_kill counter; CPU and MemoryPeak are the rusage of the
// direct child and the descendants it waited for (cheap to have at every
// exit). Stats, before Release, reads the whole tree's figures.
func (p *linuxProcess) Wait(ctx context.Context) (ExitStatus, error) {
	select {
	case <-p.c.done:
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
	p.finish()
	return p.final, p.finErr
}

// finish computes the final status once, after the reap and before the
// group goes back to its pool.
func (p *linuxProcess) finish() {
	p.finOnce.Do(func() {
		st := p.c.st
		ru := st.Rusage
		p.final = ExitStatus{
			Code:       st.Code,
			Signal:     syscall.Signal(st.Signal),
			CPU:        time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
			MemoryPeak: ru.Maxrss * 1024,
		}
		p.finErr = p.c.werr
		p.mu.RLock()
		defer p.mu.RUnlock()
		if p.group == nil {
			return
		}
		// OOM comes from the group's oom_kill counter (one pread), never
		// from the signal: a SIGKILL can have any sender. CPU and peak stay
		// the rusage figures: Stats reads the group's when asked.
		if oom, err := p.group.OOMKilled(); err == nil {
			p.final.OOMKilled = oom
		} else if !errors.Is(err, cgroup.ErrNotSupported) {
			p.b.log.Warn("oom_kill counter unreadable", "group", p.group.Name(), "err", err)
		}
	})
}

// Signal sends sig to the direct child through its pidfd.
func (p *linuxProcess) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("unsupported signal %v", sig)
	}
	if p.c.exited() {
		return os.ErrProcessDone
	}
	if err := p.c.pfd.Signal(unix.Signal(s)); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return os.ErrProcessDone
		}
		return err
	}
	return nil
}

// Kill kills the whole tree: the group (cgroup.kill or freeze-kill-thaw),
// or the process group without one.
func (p *linuxProcess) Kill() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released {
		return nil
	}
	return p.killLocked()
}

func (p *linuxProcess) killLocked() error {
	if p.group != nil {
		p.c.killed.Store(true)
		err := p.group.Kill()
		if err == nil {
			return nil
		}
		p.b.log.Warn("group kill failed, killing the process group", "group", p.group.Name(), "err", err)
	}
	err := unix.Kill(-p.pgid, unix.SIGKILL)
	if err == unix.ESRCH {
		err = nil
	}
	if serr := p.c.pfd.Signal(unix.SIGKILL); serr != nil && !errors.Is(serr, os.ErrProcessDone) && !errors.Is(serr, os.ErrClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// signalTree sends sig to every process of the tree.
func (p *linuxProcess) signalTree(sig unix.Signal) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released {
		return
	}
	if p.group != nil {
		if pids, err := p.group.Pids(); err == nil {
			for _, pid := range pids {
				unix.Kill(pid, sig)
			}
			return
		}
	}
	unix.Kill(-p.pgid, sig)
}

// Stop asks the tree to terminate, kills it after grace, and waits.
func (p *linuxProcess) Stop(ctx context.Context, grace time.Duration) (ExitStatus, error) {
	p.signalTree(unix.SIGTERM)
	t := time.NewTimer(grace)
	select {
	case <-p.c.done:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	// The direct child is gone or out of time: nothing of the tree may
	// outlive it.
	if err := p.Kill(); err != nil {
		p.b.log.Warn("stop: kill failed", "child_pid", p.c.pid, "err", err)
	}
	return p.Wait(ctx)
}

// Stats reads the tree's figures from the group; without one (or where the
// group lacks a file), from /proc for a live child or rusage after exit.
func (p *linuxProcess) Stats() (Stats, error) {
	p.mu.RLock()
	g := p.group
	if g != nil && !p.released {
		s, err := p.groupStats()
		p.mu.RUnlock()
		return s, err
	}
	p.mu.RUnlock()
	if p.c.exited() {
		ru := p.c.st.Rusage
		return Stats{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), MemoryPeak: ru.Maxrss * 1024}, nil
	}
	return linuxProcStats(p.c.pid)
}

// peakFallback is the direct child's high-water RSS: a lower bound of the
// tree's peak where the group does not report one (v2 before memory.peak).
func (p *linuxProcess) peakFallback() int64 {
	if p.c.exited() {
		return p.c.st.Rusage.Maxrss * 1024
	}
	s, err := linuxProcStats(p.c.pid)
	if err != nil {
		return 0
	}
	return s.MemoryPeak
}

// Release kills what is left of the tree, waits until it is gone, returns
// the group to its pool and closes every fd the caller did not take.
func (p *linuxProcess) Release() error {
	p.relOnce.Do(func() { p.relErr = p.release() })
	return p.relErr
}

func (p *linuxProcess) release() error {
	c := p.c
	var errs []error
	p.mu.Lock()
	if !c.exited() {
		if err := p.killLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Unlock()
	if !c.exited() {
		t := time.NewTimer(releaseBound)
		select {
		case <-c.done:
		case <-t.C:
			errs = append(errs, fmt.Errorf("pid %d did not exit within %v of SIGKILL", c.pid, releaseBound))
		}
		t.Stop()
	}
	if c.exited() {
		p.finish() // reads the group: before it is recycled
	} else {
		p.b.watch.Remove(c.pfd)
	}
	if p.group == nil {
		// Without a group the tree is the process group; descendants are
		// not ours to wait for.
		unix.Kill(-p.pgid, unix.SIGKILL)
	}
	reuse, err := c.settle()
	if err != nil {
		errs = append(errs, err)
	}
	p.mu.Lock()
	p.released = true
	g := p.group
	p.group = nil
	p.mu.Unlock()
	c.group = nil
	// The tree is gone. A group that emptied by itself goes back to its
	// pool at once: one read of cgroup.events and a lock (the pool leaves
	// the reset for the next run to its Get, in the background preparation
	// of a launcher). Removing a group that was killed or did not empty
	// costs rmdirs and maybe waits, which need not delay the caller.
	switch {
	case g == nil:
	case reuse && !c.killed.Load():
		c.pool.putGroup(g, true)
	case !p.b.recycle(func() { c.pool.putGroup(g, reuse) }):
		c.pool.putGroup(g, reuse)
	}
	c.pfd.Close()
	for i, f := range c.stdio {
		if f != nil && !p.handed[i].Load() {
			f.Close()
		}
	}
	p.b.mu.Lock()
	delete(p.b.procs, p)
	p.b.mu.Unlock()
	return errors.Join(errs...)
}
