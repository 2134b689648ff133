// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// deleteWait bounds Delete's wait for a killed group to empty.
	deleteWait = 2 * time.Second
	// sweepWait bounds the wait for stale processes to die at Open/Close.
	sweepWait = 5 * time.Second
	// freezeWait bounds the wait for a freezer to reach FROZEN; a task in
	// uninterruptible sleep can keep it FREEZING, and the kill goes on.
	freezeWait = time.Second
	// rmdirBudget and rmdirTries bound the EBUSY retries of rmdir
	// (containerd's ~150 ms proved too short under load: runc#2344,
	// containerd#8532).
	rmdirBudget = 2 * time.Second
	rmdirTries  = 100
)

// killMech is how a group's tree is killed.
type killMech int

const (
	killEach       killMech = iota // SIGKILL each pid, again until no new ones appear
	killFreezeV1                   // v1 freezer: freeze, SIGKILL each pid, thaw
	killFreezeV2                   // cgroup.freeze: freeze, SIGKILL each pid, thaw
	killCgroupKill                 // cgroup.kill (Linux 5.14)
)

func (k killMech) String() string {
	switch k {
	case killCgroupKill:
		return "cgroup.kill"
	case killFreezeV1, killFreezeV2:
		return "freeze+kill+thaw"
	}
	return "kill each pid"
}

// probeKill picks the kill mechanism from what the subtree root offers
// (cgroup.kill and cgroup.freeze do not exist in a root cgroup, so the
// root of our subtree is where to look).
func (m *Manager) probeKill() killMech {
	if h := m.unified; h != nil {
		if exists(filepath.Join(h.root, "cgroup.kill")) {
			return killCgroupKill
		}
		if exists(filepath.Join(h.root, "cgroup.freeze")) {
			return killFreezeV2
		}
	}
	if m.v1["freezer"] != nil {
		return killFreezeV1
	}
	return killEach
}

// Kill kills every process of the group at once and returns without
// waiting: cgroup.kill, else freeze, SIGKILL every pid, thaw (frozen
// processes cannot fork meanwhile, and a v1-frozen process dies only once
// thawed), else SIGKILL every pid until no new one appears.
func (g *Group) Kill() error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.deleted {
		return nil
	}
	if g.m.kill == killCgroupKill && g.uni != "" {
		// Marked before the write: a write that fails may still have
		// counted as a kill.
		g.cgKilled.Store(true)
	}
	return g.m.killDirs(g.dirs, false)
}

// killDirs kills every process in ds and below. thorough (stale cleanup)
// also SIGKILLs what v1 hierarchies hold after a cgroup.kill, in case a
// process was never placed in the unified tree.
func (m *Manager) killDirs(ds []cgdir, thorough bool) error {
	var uni, fz string
	for _, d := range ds {
		switch {
		case d.h.v2:
			uni = d.path
		case d.h.has("freezer"):
			fz = d.path
		}
	}
	var errs []error
	if m.kill == killCgroupKill && uni != "" {
		err := writeFile(filepath.Join(uni, "cgroup.kill"), "1")
		if err == nil {
			if thorough {
				return killEachPid(ds)
			}
			return nil
		}
		// cgroup.kill can fail (EINVAL seen in the field): fall back.
		errs = append(errs, err)
	}
	var err error
	switch {
	case uni != "" && m.kill >= killFreezeV2:
		err = freezeKillThaw(ds, filepath.Join(uni, "cgroup.freeze"), "1", "0", func() (bool, error) {
			v, err := readKey(filepath.Join(uni, "cgroup.events"), "frozen")
			return v == 1, err
		})
	case fz != "":
		state := filepath.Join(fz, "freezer.state")
		err = freezeKillThaw(ds, state, "FROZEN", "THAWED", func() (bool, error) {
			b, err := readFile(state)
			return strings.TrimSpace(string(b)) == "FROZEN", err
		})
	default:
		err = killEachPid(ds)
	}
	if err == nil {
		return nil // the fallback worked: the cgroup.kill error is moot
	}
	return errors.Join(append(errs, err)...)
}

// freezeKillThaw freezes, SIGKILLs every process, and always thaws.
func freezeKillThaw(ds []cgdir, file, freeze, thaw string, frozen func() (bool, error)) error {
	var errs []error
	if err := writeFile(file, freeze); err != nil {
		errs = append(errs, err)
	} else {
		ctx, cancel := contextTimeout(freezeWait)
		_ = pollUntil(ctx, frozen) // not frozen in time: kill anyway
		cancel()
	}
	errs = append(errs, killEachPid(ds))
	errs = append(errs, writeFile(file, thaw))
	return errors.Join(errs...)
}

// killEachPid SIGKILLs every process in ds and below, and does it again
// while new processes show up (forks racing with the kill).
func killEachPid(ds []cgdir) error {
	seen := map[int]bool{}
	for range 10 {
		pids := treePidsOf(ds)
		fresh := 0
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				fresh++
			}
		}
		if fresh == 0 {
			return nil
		}
		if err := signalMembers(pids, ds, unix.SIGKILL); err != nil {
			return err
		}
	}
	return nil
}

// signalMembers sends sig to those of pids that are in ds. A pid is pinned
// with a pidfd first and signalled only if it is still listed in ds after
// that: a pid that exited and was reused by a process elsewhere is never
// signalled. Without pidfds (Linux < 5.3) plain kill(2) is used.
func signalMembers(pids []int, ds []cgdir, sig unix.Signal) error {
	self := os.Getpid()
	fds := make(map[int]int, len(pids))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	noPidfd := false
	for _, p := range pids {
		if p == self || p <= 0 {
			continue
		}
		fd, err := unix.PidfdOpen(p, 0)
		switch {
		case err == nil && fds[p] == 0:
			fds[p] = fd
		case err == nil:
			unix.Close(fd) // a duplicate
		case errors.Is(err, unix.ENOSYS):
			noPidfd = true
		}
	}
	if noPidfd {
		for _, p := range pids {
			if p != self && p > 0 {
				_ = unix.Kill(p, sig)
			}
		}
		return nil
	}
	members := treePidsOf(ds)
	var errs []error
	for p, fd := range fds {
		if !slices.Contains(members, p) {
			continue
		}
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("cgroup: signal %d: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// WaitEmpty waits until no process is left in the group, or ctx ends
// (returning ctx.Err()). On v2 and hybrid it sleeps on the "populated"
// notification of cgroup.events through the runtime poller (poll(2)
// semantics, POLLPRI/POLLERR on change; no inotify instance, no blocked
// thread); on v1 it polls cgroup.procs with a short backoff.
func (g *Group) WaitEmpty(ctx context.Context) error {
	// The usual case, a tree that is gone already, costs one read: no
	// semaphore, no timer.
	if empty, err := g.Empty(); err != nil || empty {
		return err
	}
	select {
	case g.waitSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.waitSem }()
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.deleted {
		return nil
	}
	if g.events != nil && g.pollable {
		if err := g.waitUnpopulated(ctx); err != nil {
			return err
		}
		if empty, err := g.isEmptyLocked(); err != nil || empty {
			return err
		}
	}
	return pollUntil(ctx, g.isEmptyLocked)
}

// waitUnpopulated waits for "populated 0" in cgroup.events.
//
// The kernel rate-limits cgroup.events notifications to one per 10 ms, so
// a group that filled and emptied within that window would be reported up
// to 10 ms late; a short spin with growing sleeps first covers the common
// case of a tree that dies within a millisecond or two of its kill.
func (g *Group) waitUnpopulated(ctx context.Context) error {
	spin := 50 * time.Microsecond
	for total := time.Duration(0); total < 2*time.Millisecond; total += spin {
		pop, err := populated(g.eventsFD)
		if err != nil || !pop {
			return err
		}
		time.Sleep(spin)
		spin *= 2
	}
	rc, err := g.events.SyscallConn()
	if err != nil {
		return err
	}
	for {
		_ = g.events.SetReadDeadline(time.Time{})
		stop := context.AfterFunc(ctx, func() { _ = g.events.SetReadDeadline(time.Unix(1, 0)) })
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			pop, err := populated(int(fd))
			rerr = err
			return err != nil || !pop
		})
		stop()
		switch {
		case err == nil:
			return rerr
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // a deadline left by an earlier wait's late AfterFunc
		default:
			return err
		}
	}
}

// populated reads the "populated" key of a cgroup.events fd.
func populated(fd int) (bool, error) {
	var buf [128]byte
	b, err := preadAll(fd, buf[:])
	if errors.Is(err, unix.ENODEV) {
		return false, nil // the cgroup was removed: nothing can be in it
	}
	if err != nil {
		return false, fmt.Errorf("cgroup: read cgroup.events: %w", err)
	}
	v, ok := keyValue(b, "populated")
	if !ok {
		return false, fmt.Errorf("cgroup: cgroup.events without populated: %w", ErrNotSupported)
	}
	return v != 0, nil
}

// isEmptyLocked reports whether no process is in the group; g.mu is held.
//
// With a cgroup2 directory (v2, hybrid) the kept cgroup.events answers
// for the whole group in one pread: every process of a group is in that
// directory as well (cloned into UnifiedFD or written there by Place, and
// its descendants inherit it), so "populated 0" there means the v1
// directories hold none of its processes either. On v1 only, each
// hierarchy's cgroup.procs is read until one lists a process.
func (g *Group) isEmptyLocked() (bool, error) {
	if g.events != nil {
		pop, err := populated(g.eventsFD)
		return !pop, err
	}
	for _, d := range g.dirs {
		if d.h.v2 {
			continue
		}
		busy, err := hasProcs(d.path)
		if err != nil || busy {
			return false, err
		}
	}
	return true, nil
}

// hasProcs reports whether the cgroup.procs of dir lists a process. v1's
// cgroup.procs keeps a pid list cached per open file, so it is opened for
// each check (a kept fd could report a stale list); one short read
// suffices.
func hasProcs(dir string) (bool, error) {
	p := dir + "/cgroup.procs"
	fd, err := sysOpen(p, unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) {
		return false, nil // removed already: empty
	}
	if err != nil {
		return false, fileErr("open", p, err)
	}
	defer unix.Close(fd)
	var buf [16]byte
	n, err := sysRead(fd, buf[:], p)
	if err != nil {
		return false, fileErr("read", p, err)
	}
	return n > 0, nil
}

// Empty reports whether no process is in the group now. On v2 and hybrid
// hosts this is one pread of the kept cgroup.events ("populated"); on v1
// it reads each hierarchy's cgroup.procs. A deleted group is empty.
func (g *Group) Empty() (bool, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.deleted {
		return true, nil
	}
	return g.isEmptyLocked()
}

// Delete kills what is left in the group, waits (bounded) for it to be
// empty, removes its directory in every hierarchy — retrying EBUSY, which
// an emptied cgroup can report for a while — and closes its files. It may
// be called more than once.
func (g *Group) Delete() error {
	var errs []error
	if empty, err := g.Empty(); err != nil || !empty {
		errs = append(errs, g.Kill())
		ctx, cancel := contextTimeout(deleteWait)
		if err := g.WaitEmpty(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cgroup: group %s not empty after kill: %w", g.name, err))
		}
		cancel()
	}
	g.mu.Lock()
	if g.deleted {
		g.mu.Unlock()
		return nil
	}
	g.deleted = true
	g.closeFDs()
	g.mu.Unlock()
	for _, d := range g.dirs {
		for _, sub := range subdirs(d.path) {
			if _, err := g.m.rmdirRetry(sub); err != nil {
				errs = append(errs, err)
			}
		}
	}
	g.m.untrack(g)
	return errors.Join(errs...)
}

// rmdirRetry removes one cgroup directory, retrying EBUSY with doubling
// sleeps from 1 ms (at most rmdirTries tries within rmdirBudget); before
// each retry it kills whatever the directory still holds (as crun does).
// It returns the number of tries.
func (m *Manager) rmdirRetry(dir string) (int, error) {
	deadline := time.Now().Add(rmdirBudget)
	sleep := time.Millisecond
	for try := 1; ; try++ {
		err := sysRmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return try, nil
		}
		if !errors.Is(err, unix.EBUSY) || try >= rmdirTries || time.Now().Add(sleep).After(deadline) {
			return try, fileErr("rmdir", dir, err)
		}
		if pids, _ := readPids(filepath.Join(dir, "cgroup.procs")); len(pids) > 0 {
			_ = signalMembers(pids, []cgdir{{h: &hier{}, path: dir}}, unix.SIGKILL)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 200*time.Millisecond)
	}
}

// pollUntil calls done with a backoff from 100 µs doubling to 5 ms until
// it reports true or an error, or ctx ends.
func pollUntil(ctx context.Context, done func() (bool, error)) error {
	d := 100 * time.Microsecond
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		t.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		d = min(2*d, 5*time.Millisecond)
	}
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
