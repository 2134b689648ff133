// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/cgroup"
	"github.com/hooksupd/hooksupd/supervisor/pidfd"
)

// maxParked bounds the launchers parked per pool; the target adapts
// between 1 and maxParked: up on every fire that found none ready, down
// after a trim period without such a miss.
const maxParked = 4

// maxParkedTotal bounds the launchers parked or being prepared across all
// pools (each holds a process, ~100 KiB of kernel memory and a dozen fds
// with its group). Beyond it, pools are refilled only for a fire that
// found its pool empty.
const maxParkedTotal = 64

// destroyBound bounds how long tearing down a child waits for its exit
// and for its group to empty.
const destroyBound = 5 * time.Second

// poolKey identifies launchers that are interchangeable: the same groups
// (name and limits) and the same credentials. Launchers always get pipes;
// a Spec that supplies its own stdio files gets a launcher made for it.
type poolKey struct {
	name    string
	limits  cgroup.Limits
	cred    string
	sandbox string // Sandbox.key
}

func credKey(c *Credential) string {
	if c == nil {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(uint64(c.UID), 10) + ":" + strconv.FormatUint(uint64(c.GID), 10))
	for _, g := range c.Groups {
		sb.WriteString("," + strconv.FormatUint(uint64(g), 10))
	}
	return sb.String()
}

// launcherPool keeps parked launchers for one key, and the cgroup pool
// their groups come from.
type launcherPool struct {
	b      *linuxBackend
	key    poolKey
	cred   *Credential
	groups *cgroup.Pool // nil without cgroups
	// plan is how its launchers are sandboxed; planErr, when set, fails
	// every Start of the key (the sandbox cannot be provided).
	plan    sandboxPlan
	planErr error

	mu          sync.Mutex
	ready       []*child
	preparing   int
	target      int
	misses      int
	lastUse     time.Time
	outstanding int           // groups taken from groups and not yet returned
	avail       chan struct{} // closed (and replaced) when ready grows or a preparation fails
	failGen     uint64
	lastErr     error
	closed      bool
}

var errPoolClosed = errors.New("launcher pool closed")

// pool returns the pool for key, creating it on first use. reduced, when
// set, says why the key's limits are fewer than asked. The sandbox is
// planned once per pool, not per fire.
func (b *linuxBackend) pool(key poolKey, cred *Credential, sb *Sandbox, reduced error) (*launcherPool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if pl := b.pools[key]; pl != nil {
		return pl, pl.planErr
	}
	if reduced != nil {
		b.log.Warn("running with fewer limits than asked (allow_uncapped)", "name", key.name, "reason", reduced)
	}
	pl := &launcherPool{b: b, key: key, target: 1, lastUse: time.Now(), avail: make(chan struct{})}
	var less error
	pl.plan, less, pl.planErr = b.planSandbox(sb, cred)
	if less != nil {
		b.log.Warn("running with less isolation than asked (allow_unsandboxed)", "name", key.name, "reason", less)
	}
	if cred != nil {
		c := *cred
		c.Groups = slices.Clone(cred.Groups)
		pl.cred = &c
	}
	if b.cg != nil {
		// Keys with the same name differ in limits or user: the hash
		// keeps their groups apart.
		h := fnv.New32a()
		fmt.Fprintf(h, "%+v|%s|%s", key.limits, key.cred, key.sandbox)
		pl.groups = b.cg.NewPool(fmt.Sprintf("%s-%08x", key.name, h.Sum32()), key.limits, 2)
	}
	b.pools[key] = pl
	return pl, pl.planErr
}

// getGroup takes a clean group, or nil without cgroups.
func (pl *launcherPool) getGroup() (*cgroup.Group, error) {
	if pl.groups == nil {
		return nil, nil
	}
	var g *cgroup.Group
	var err error
	if f := pl.b.cfg.groupFault; f != nil {
		err = f()
	}
	if err == nil {
		g, err = pl.groups.Get()
	}
	if err != nil {
		return nil, supervisorFault(fmt.Errorf("group for %s: %w", pl.key.name, err))
	}
	pl.mu.Lock()
	pl.outstanding++
	pl.mu.Unlock()
	return g, nil
}

// putGroup returns g to the pool once its tree is gone (the pool keeps it
// or deletes it), or deletes it when it did not empty (see child.settle).
func (pl *launcherPool) putGroup(g *cgroup.Group, reuse bool) {
	if g == nil {
		return
	}
	if reuse {
		pl.groups.Put(g)
	} else if err := g.Delete(); err != nil {
		pl.b.log.Error("group could not be removed", "group", g.Name(), "err", err)
	}
	pl.mu.Lock()
	pl.outstanding--
	pl.mu.Unlock()
}

// take returns a parked launcher, waiting (bounded by ctx) for one when
// none is ready; every take starts preparations up to the target.
func (pl *launcherPool) take(ctx context.Context) (*child, error) {
	missed := false
	for {
		pl.mu.Lock()
		if pl.closed {
			pl.mu.Unlock()
			return nil, errPoolClosed
		}
		pl.lastUse = time.Now()
		if n := len(pl.ready); n > 0 {
			c := pl.ready[n-1]
			pl.ready = pl.ready[:n-1]
			c.state = stateTaken
			pl.b.parked.Add(-1)
			pl.refillLocked(false)
			pl.mu.Unlock()
			if c.exited() { // died while parked, before its callback ran
				c.destroy()
				continue
			}
			return c, nil
		}
		if !missed {
			missed = true
			pl.misses++
			pl.target = min(pl.target+1, maxParked)
		}
		pl.refillLocked(true) // this fire needs one, cap or not
		avail, gen := pl.avail, pl.failGen
		if pl.preparing == 0 { // nothing can arrive: the backend is closing
			pl.mu.Unlock()
			return nil, ErrClosed
		}
		pl.mu.Unlock()
		select {
		case <-avail:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		pl.mu.Lock()
		if len(pl.ready) == 0 && pl.failGen != gen {
			err := pl.lastErr
			pl.mu.Unlock()
			return nil, err
		}
		pl.mu.Unlock()
	}
}

// refillLocked starts preparations until ready + preparing reaches the
// target, within maxParkedTotal unless needed (a fire waits and nothing
// is being prepared). pl.mu must be held.
func (pl *launcherPool) refillLocked(needed bool) {
	for !pl.closed && len(pl.ready)+pl.preparing < pl.target {
		if pl.b.parked.Load() >= maxParkedTotal && !(needed && pl.preparing == 0) {
			return
		}
		pl.preparing++
		pl.b.parked.Add(1)
		if !pl.b.goBackground(pl.prepareOne) {
			pl.preparing--
			pl.b.parked.Add(-1)
			return
		}
	}
}

func (pl *launcherPool) prepareOne() {
	c, err := pl.b.prepare(pl, nil)
	pl.mu.Lock()
	// Every fire waiting on this pool gets err (take): it is the
	// supervisor's failure, not that of the hooks they fire.
	err = supervisorFault(err)
	pl.preparing--
	switch {
	case err != nil:
		pl.b.parked.Add(-1)
		pl.lastErr, pl.failGen = err, pl.failGen+1
		pl.b.log.Warn("launcher preparation failed", "hook", pl.key.name, "err", err)
	case pl.closed: // trimmed, or drained by Close
		pl.b.parked.Add(-1)
		c.state = stateDiscard
	default:
		c.state = stateParked
		pl.ready = append(pl.ready, c)
	}
	pl.broadcastLocked()
	discard := err == nil && c.state == stateDiscard
	pl.mu.Unlock()
	if discard {
		c.destroy()
	}
}

func (pl *launcherPool) broadcastLocked() {
	close(pl.avail)
	pl.avail = make(chan struct{})
}

// onExit is called by the watcher for every child of the pool that exits:
// a parked launcher that died is dropped (a process's exit is its own
// business).
func (pl *launcherPool) onExit(c *child) {
	pl.mu.Lock()
	if c.state != stateParked {
		pl.mu.Unlock()
		return
	}
	if i := slices.Index(pl.ready, c); i >= 0 {
		pl.ready = slices.Delete(pl.ready, i, i+1)
		pl.b.parked.Add(-1)
	}
	c.state = stateDiscard
	pl.mu.Unlock()
	pl.b.log.Warn("parked launcher exited", "hook", pl.key.name, "child_pid", c.pid, "code", c.st.Code, "signal", c.st.Signal)
	c.destroy()
}

// trim stops launchers that are not needed: beyond the target after a
// period without misses, and all of them after idle. It reports whether
// the pool was unused and empty, and has been closed and removed from the
// backend. Lock order: b.mu before pl.mu.
func (pl *launcherPool) trim(now time.Time, idle time.Duration) bool {
	pl.mu.Lock()
	var victims []*child
	idleNow := now.Sub(pl.lastUse) >= idle
	switch {
	case idleNow:
		pl.target = 1
		victims, pl.ready = pl.ready, nil
	case pl.misses == 0 && pl.target > 1:
		pl.target--
		if extra := len(pl.ready) - pl.target; extra > 0 {
			victims = slices.Clone(pl.ready[:extra]) // the oldest
			pl.ready = slices.Delete(pl.ready, 0, extra)
		}
	}
	pl.misses = 0
	for _, c := range victims {
		c.state = stateDiscard
	}
	pl.b.parked.Add(-int64(len(victims)))
	pl.mu.Unlock()
	stopChildren(victims)

	if !idleNow {
		return false
	}
	pl.b.mu.Lock()
	defer pl.b.mu.Unlock()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed || pl.outstanding > 0 || pl.preparing > 0 || len(pl.ready) > 0 || now.Sub(pl.lastUse) < idle {
		return false
	}
	// Closed and unmapped together: a Start that still holds pl gets
	// errPoolClosed and finds a fresh pool.
	pl.closed = true
	if pl.b.pools[pl.key] == pl {
		delete(pl.b.pools, pl.key)
	}
	return true
}

// drain stops every parked launcher and refuses new ones.
func (pl *launcherPool) drain() {
	pl.mu.Lock()
	pl.closed = true
	victims := pl.ready
	pl.ready = nil
	for _, c := range victims {
		c.state = stateDiscard
	}
	pl.b.parked.Add(-int64(len(victims)))
	pl.broadcastLocked()
	pl.mu.Unlock()
	stopChildren(victims)
}

// closeGroups releases what a pool that is gone holds: its groups and
// its sandbox's ruleset.
func (pl *launcherPool) closeGroups() error {
	pl.mu.Lock()
	pl.plan.close()
	pl.mu.Unlock()
	if pl.groups == nil {
		return nil
	}
	return pl.groups.Close()
}

// stopChildren ends parked launchers the gentle way, all at once: EOF on
// the control pipe makes a launcher exit 0.
func stopChildren(cs []*child) {
	for _, c := range cs {
		if c.control >= 0 {
			unix.Close(c.control)
			c.control = -1
		}
	}
	for _, c := range cs {
		c.destroy()
	}
}

// recycle runs fn (returning a group to its pool) in the background,
// unless the backend is closing; Close waits for these.
func (b *linuxBackend) recycle(fn func()) bool {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.bgStopped {
		return false
	}
	b.recycles.Go(fn)
	return true
}

// goBackground runs fn as tracked background work unless the backend is
// closing.
func (b *linuxBackend) goBackground(fn func()) bool {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.bgStopped {
		return false
	}
	b.bg.Go(fn)
	return true
}

// childState is where a child of a pool is; guarded by the pool's mu.
type childState int

const (
	stateNew     childState = iota // being prepared or spawned
	stateParked                    // a launcher in pool.ready
	stateTaken                     // fired, or a directly spawned process
	stateDiscard                   // being torn down without having run a hook
)

// child is one process the backend cloned: a launcher (parked or turned
// into the hook by execve) or a directly spawned hook.
type child struct {
	b     *linuxBackend
	pool  *launcherPool
	group *cgroup.Group
	pid   int
	pfd   *pidfd.FD
	stdio [3]*os.File // parent ends of the pipes; nil where the Spec gave a file
	// Launcher pipes, -1 once closed.
	control, status int
	parked          bool // a launcher that got ready and has not been fired

	done   chan struct{} // closed by the watcher after the reap
	st     pidfd.Status
	werr   error
	state  childState
	killed atomic.Bool // the group got a kill: see settle and Release
	exits  exitHooks   // Process.OnExit callbacks

	destroyOnce sync.Once
}

func newChild(b *linuxBackend, pl *launcherPool, g *cgroup.Group) *child {
	return &child{b: b, pool: pl, group: g, control: -1, status: -1, done: make(chan struct{})}
}

// started records the clone and hands the pidfd to the watcher, which
// reaps the child when it exits.
func (c *child) started(pid int, pfd *pidfd.FD) error {
	c.pid, c.pfd = pid, pfd
	if err := c.b.watch.Add(pfd, c.onExit); err != nil {
		pfd.Signal(unix.SIGKILL)
		c.st, c.werr = pfd.Wait()
		close(c.done)
		return fmt.Errorf("watch pidfd: %w", err)
	}
	return nil
}

// onExit runs on the watcher goroutine: reap (the pidfd is readable, so
// waitid does not block), publish the status, tell the pool.
func (c *child) onExit() {
	c.st, c.werr = c.pfd.Wait()
	close(c.done)
	c.exits.fire()
	c.pool.onExit(c)
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// destroy tears down a child that is not (or no longer) a Process: kill,
// wait for the reap, close every fd, return or delete its group.
func (c *child) destroy() {
	c.destroyOnce.Do(func() {
		for i, f := range c.stdio {
			if f != nil {
				f.Close()
				c.stdio[i] = nil
			}
		}
		if c.control >= 0 {
			unix.Close(c.control)
			c.control = -1
		}
		if c.status >= 0 {
			unix.Close(c.status)
			c.status = -1
		}
		if c.pfd != nil {
			if c.parked {
				// A parked launcher exits 0 at EOF on its control pipe.
				c.await(time.Second, false)
			}
			c.await(destroyBound, true)
			if !c.exited() {
				c.b.log.Error("child did not exit after SIGKILL", "child_pid", c.pid)
				c.b.watch.Remove(c.pfd)
			}
			c.pfd.Close()
		}
		reuse, err := c.settle()
		if err != nil {
			c.b.log.Error("launcher teardown", "err", err)
		}
		c.pool.putGroup(c.group, reuse)
		c.group = nil
	})
}

// await waits up to d for the child's reap, after SIGKILL if kill.
func (c *child) await(d time.Duration, kill bool) {
	if c.exited() {
		return
	}
	if kill {
		c.pfd.Signal(unix.SIGKILL)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
}

// emptyProbe bounds the wait for a group that is not empty yet once the
// direct child is gone (a descendant on its way out) before the tree is
// killed.
const emptyProbe = time.Millisecond

// settle makes sure nothing is left in the child's group and reports
// whether the group may go back to its pool. The direct child must be
// gone.
//
// The common case of an exec-mode fire, a tree that ended with its direct
// child, costs one read of cgroup.events (Group.Empty): no kill, no timer.
// A group that needed a kill through cgroup.kill is not reused; its pool
// deletes it (see cgroup.Group.Kill).
func (c *child) settle() (reuse bool, err error) {
	g := c.group
	if g == nil {
		return true, nil
	}
	if empty, err := g.Empty(); err == nil && empty {
		return true, nil // killed or not: nothing left to kill
	}
	if !c.killed.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), emptyProbe)
		err := g.WaitEmpty(ctx)
		cancel()
		if err == nil {
			return true, nil
		}
	}
	c.killed.Store(true)
	if err := g.Kill(); err != nil {
		c.b.log.Warn("group kill failed", "group", g.Name(), "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), destroyBound)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		return false, fmt.Errorf("group %s did not empty: %w", g.Name(), err)
	}
	return true, nil
}
