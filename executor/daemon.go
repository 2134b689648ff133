// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/ndjson"
	"github.com/hooksupd/hooksupd/redact"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Restart policy of daemon children (docs/pitfalls.md #21): exponential
// backoff with jitter, reset after a healthy run.
const (
	restartBase    = 100 * time.Millisecond
	restartCap     = 5 * time.Second
	restartJitter  = 0.2
	healthyRun     = 30 * time.Second
	restartTimeout = 10 * time.Second // bounds a spawn started by the restart timer
)

// restartDelay is the wait before restart number n (0-based): 100 ms
// doubling to 5 s, ±20 % jitter so hooks that crash together do not
// restart in lockstep.
func restartDelay(n int) time.Duration {
	d := restartCap
	if n < 6 {
		d = min(restartBase<<n, restartCap)
	}
	f := 1 + restartJitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// daemonExecutor keeps one long-lived child per hook and exchanges one
// request line and one reply line per fire, single-flight.
//
// The child is watched from three sides, none of them a goroutine of its
// own: stdout lines arrive through the registry's ndjson loop (a fire reads
// its own reply, borrowing stdout from the loop, where the platform allows
// it), stderr is drained by the same loop into a ring, and its exit is
// pushed by the process (Process.OnExit, from the backend's exit watcher)
// the moment it happens, not at the next fire.
type daemonExecutor struct {
	r       *Registry
	p       *plan
	h       *config.Hook    // &p.hook
	spec    supervisor.Spec // p.spec, LongLived
	gate    policyGate
	lineMax int
	// sem is the single-flight slot. Channel send waiters are queued in
	// FIFO order, so fires are served oldest first, and a waiter can give
	// up when its ctx ends (a sync.Mutex can do neither).
	sem chan struct{}

	mu        sync.Mutex
	closed    bool
	cur       *daemonChild // nil: down
	failures  int          // consecutive failures, for the backoff
	nextStart time.Time    // no start before this (backoff)
	timer     *time.Timer  // pending proactive restart
	restarts  uint64
	lastErr   string
}

// daemonChild is one incarnation of the daemon. Fields below mu are
// guarded by the executor's mu.
type daemonChild struct {
	d       *daemonExecutor
	proc    supervisor.Process
	stdin   *os.File
	outW    *ndjson.Watch
	errW    *ndjson.Watch
	split   *ndjson.Splitter
	ring    *redact.Ring
	started time.Time
	// stopExit cancels the exit callback (a clean stop needs no reset);
	// set under the executor's mu before the child is published.
	stopExit func() bool
	// replyFile is a second descriptor of stdout in the runtime poller,
	// read by a fire that borrowed stdout from the loop (readReply); nil
	// where fires do not read their own reply.
	replyFile *os.File

	waiting chan daemonReply // the fire waiting for a reply, or nil
	reading bool             // that fire reads replyFile itself (readReply)
	gone    bool             // failed or stopping: its output is ignored
	exitErr error            // the direct child exited while stdout drains
	eof     bool             // stdout ended while a fire waited
	failed  bool             // retired by a failure (not a clean stop); set before stop runs
}

// daemonReply is a reply line or the error that ended the wait.
type daemonReply struct {
	line []byte
	err  error
}

func newDaemonExecutor(r *Registry, p *plan) *daemonExecutor {
	d := &daemonExecutor{r: r, p: p, h: &p.hook, spec: p.spec, lineMax: p.stdoutMax, sem: make(chan struct{}, 1)}
	d.spec.LongLived = true // nothing to prepare for a next start
	return d
}

// acquire takes the single-flight slot within ctx.
func (d *daemonExecutor) acquire(ctx context.Context) error {
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &hookError{kind: ErrDropped, cause: ctx.Err(),
			msg: "hook fire dropped: daemon busy with earlier fires until the deadline"}
	}
}

func (d *daemonExecutor) release() { <-d.sem }

// Prestart starts the child now if it is down, so a service can report
// ready with its daemons up.
func (d *daemonExecutor) Prestart(ctx context.Context) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	_, err := d.ready(ctx)
	return err
}

// Fire sends one request line and waits for the reply line.
func (d *daemonExecutor) Fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error) {
	ctx, cancel := withHookTimeout(ctx, d.h)
	defer cancel()
	dec, err := d.fire(ctx, event, payload)
	if err != nil && KindOf(err) != KindDaemonUnavailable {
		// A fail-fast "unavailable" is a consequence of the last error, not
		// a new one: recording it would nest each error in the next.
		d.mu.Lock()
		d.lastErr = boundedText(err.Error())
		d.mu.Unlock()
	}
	return dec, err
}

func (d *daemonExecutor) fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error) {
	start := time.Now()
	line, err := envelope(event, payload)
	if err != nil {
		return Decision{}, err
	}
	if err := d.acquire(ctx); err != nil {
		return Decision{}, err
	}
	defer d.release()
	c, err := d.ready(ctx)
	if err != nil {
		return Decision{}, err
	}
	setChildPid(ctx, c.proc.Pid())

	reply := make(chan daemonReply, 1)
	d.mu.Lock()
	if c.gone {
		d.mu.Unlock()
		return Decision{}, &hookError{kind: ErrDaemonUnavailable, msg: "hook daemon unavailable: child lost before the request"}
	}
	c.waiting = reply // before the write: the reply may beat WriteAll's return
	d.mu.Unlock()

	if err := ndjson.WriteAll(ctx, c.stdin, line); err != nil {
		ferr := error(&hookError{kind: ErrIO, msg: "hook io error: writing to the daemon", cause: err})
		grace := time.Duration(0)
		if ctx.Err() != nil {
			ferr = timeoutError(ctx, start)
		}
		d.mu.Lock()
		d.failLocked(c, ferr, grace)
		d.mu.Unlock()
		return Decision{}, ferr
	}

	// Read the reply on this goroutine where the platform lets it (after
	// the write: while it is under way the loop keeps draining stdout, so
	// a daemon that answers before reading all of a large request cannot
	// deadlock it); else, and after an EOF, the loop hands it over.
	rep, ok := c.readReply(ctx, reply)
	if !ok {
		rep = d.awaitReply(ctx, c, reply, start)
	}
	if rep.err != nil {
		return Decision{}, rep.err // the child was failed by whoever sent it
	}
	dec, err := ParseDecision(rep.line, d.p.memoryDelta)
	if err != nil {
		// A stray debug print or garbage: the framing is lost.
		d.mu.Lock()
		d.failLocked(c, err, d.r.grace)
		d.mu.Unlock()
		return Decision{}, err
	}
	return dec, nil
}

// awaitReply waits for the reply the ndjson loop (or a failure) hands
// over, or for ctx; at ctx's end the child is reset and the reply is the
// timeout error.
func (d *daemonExecutor) awaitReply(ctx context.Context, c *daemonChild, reply <-chan daemonReply, start time.Time) daemonReply {
	var rep daemonReply
	select {
	case rep = <-reply:
	case <-ctx.Done():
		d.mu.Lock()
		select {
		case rep = <-reply: // answered just in time: the reply is ours
			d.mu.Unlock()
		default:
			// Kill at once (no grace): a late reply must never reach the
			// next fire. The reset has happened when Fire returns.
			c.waiting = nil
			err := timeoutError(ctx, start)
			d.failLocked(c, err, 0)
			d.mu.Unlock()
			return daemonReply{err: err}
		}
	}
	return rep
}

// ready returns the live child, starting one when it is down. Within a
// restart backoff it waits for the restart if that falls inside ctx, and
// fails fast with ErrDaemonUnavailable otherwise. Called with sem held, so
// only one start runs at a time.
func (d *daemonExecutor) ready(ctx context.Context) (*daemonChild, error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, ErrClosed
		}
		if c := d.cur; c != nil {
			d.mu.Unlock()
			return c, nil
		}
		wait := time.Until(d.nextStart)
		lastErr := d.lastErr
		d.mu.Unlock()
		if wait <= 0 {
			return d.start(ctx)
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			msg := fmt.Sprintf("hook daemon unavailable: restarting in %dms", wait.Milliseconds())
			if lastErr != "" {
				msg += " (last error: " + lastErr + ")"
			}
			return nil, &hookError{kind: ErrDaemonUnavailable, msg: msg}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &hookError{kind: ErrDaemonUnavailable, cause: ctx.Err(), msg: "hook daemon unavailable: restart pending at the deadline"}
		}
	}
}

// start spawns a child and wires it up. On failure the backoff grows, but
// no proactive restart is scheduled: a command that cannot start is
// retried by the next fire, not in a loop of its own.
func (d *daemonExecutor) start(ctx context.Context) (*daemonChild, error) {
	c, err := d.spawnChild(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.nextStart = time.Now().Add(restartDelay(d.failures))
		d.failures++
		d.lastErr = boundedText(err.Error())
		return nil, err
	}
	if d.closed {
		c.gone = true
		d.stopAsync(c, 0)
		return nil, ErrClosed
	}
	d.cur = c
	// Watch for its death last: the callback needs d.cur to be set. The
	// process pushes its exit (from the backend's one exit watcher): no
	// goroutine or select waits for it.
	c.stopExit = c.proc.OnExit(func() { d.childExited(c) })
	return c, nil
}

func (d *daemonExecutor) spawnChild(ctx context.Context) (*daemonChild, error) {
	if err := d.gate.check(d.r.policy.Load(), d.h.Command); err != nil {
		return nil, err
	}
	loop, err := d.r.ndjsonLoop()
	if err != nil {
		return nil, err
	}
	proc, err := spawn(ctx, d.r.opts.Backend, &d.spec, d.r.log, d.supervisorRetry)
	if err != nil {
		return nil, err
	}
	c := &daemonChild{d: d, proc: proc, stdin: proc.Stdin(), ring: redact.NewRing(d.p.stderrTail), started: time.Now()}
	c.split = ndjson.NewSplitter(d.lineMax, c.onLine, c.onTooLong)
	c.openReplyReader(proc.Stdout())
	// Watch owns the file it is given even when it fails.
	if c.outW, err = loop.Watch(proc.Stdout(), daemonStdout{c}); err == nil {
		c.errW, err = loop.Watch(proc.Stderr(), ringSink{ring: c.ring})
	} else {
		_ = proc.Stderr().Close()
	}
	if err != nil {
		c.stop(context.Background(), 0)
		return nil, &hookError{kind: ErrIO, msg: "hook io error: watching daemon pipes", cause: err}
	}
	d.r.log.Debug("hooks: daemon child started", "hook", d.h.Name, "child_pid", proc.Pid())
	return c, nil
}

// daemonStdout feeds stdout into the child's line splitter (on the loop
// goroutine).
type daemonStdout struct{ c *daemonChild }

func (s daemonStdout) OnData(p []byte) { s.c.split.Feed(p) }

func (s daemonStdout) OnClose(err error) {
	c, d := s.c, s.c.d
	c.split.Flush()
	d.mu.Lock()
	defer d.mu.Unlock()
	ferr := c.exitErr
	if ferr == nil && err == nil && !c.gone && c.waiting != nil {
		// A dying process closes its files before it is reaped, so EOF
		// usually beats the exit notification. Wait (briefly, off the
		// loop goroutine) for the exit status, so that a child killed by
		// its memory limit or crashing mid-request is reported as such
		// and not as one that merely closed its stdout.
		c.eof = true
		d.r.bg.Add(1)
		go func() {
			defer d.r.bg.Done()
			t := time.NewTimer(exitDrainBound)
			defer t.Stop()
			select {
			case <-c.proc.Done():
				d.failChild(c, d.exitStatusError(c), 0)
			case <-t.C:
				d.failChild(c, &hookError{kind: ErrExit, msg: "hook daemon child closed stdout"}, d.r.grace)
			}
		}()
		return
	}
	if ferr == nil {
		cause := "daemon child closed stdout"
		if err != nil {
			cause = "daemon stdout read failed"
		}
		ferr = &hookError{kind: ErrExit, msg: "hook " + cause}
	}
	d.failLocked(c, ferr, d.r.grace)
}

// exitStatusError turns the reaped child's status into the fire's error:
// ErrOOMKilled when its memory limit killed it, else ErrExit.
func (d *daemonExecutor) exitStatusError(c *daemonChild) error {
	st, _ := c.proc.Wait(context.Background())
	if st.OOMKilled {
		return oomError(d.spec.Limits)
	}
	return exitError(st)
}

// onLine delivers a reply to the waiting fire; a line nobody asked for is
// a framing error.
func (c *daemonChild) onLine(line []byte) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.gone {
		return
	}
	if c.waiting == nil {
		d.failLocked(c, &hookError{kind: ErrDecode, msg: "hook decision decode failed: unsolicited daemon stdout line"}, d.r.grace)
		return
	}
	c.waiting <- daemonReply{line: bytes.Clone(line)}
	c.waiting = nil
	if c.exitErr != nil {
		// The last words of a child that has exited: the reply stands, the
		// child is retired now.
		d.failLocked(c, c.exitErr, 0)
	}
}

// onTooLong: a reply line over the cap ends the connection.
func (c *daemonChild) onTooLong() {
	d := c.d
	d.failChild(c, &hookError{kind: ErrDecode, msg: fmt.Sprintf("hook decision decode failed: daemon stdout line exceeded %d bytes", d.lineMax)}, d.r.grace)
}

// childExited runs on the backend's exit watcher (Process.OnExit) when
// the child's direct process has been reaped.
//
// The exit can be seen before the loop has read the child's last line: a
// daemon that answers and exits at once leaves its reply in the pipe. So
// when a fire awaits a reply, the rest of the tree is killed (so EOF
// comes) and stdout may drain for exitDrainBound: the reply, the EOF or
// that bound settles the fire, as for an exec child.
func (d *daemonExecutor) childExited(c *daemonChild) {
	err := d.exitStatusError(c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.gone {
		return
	}
	if c.waiting == nil || c.eof {
		d.failLocked(c, err, 0)
		return
	}
	c.exitErr = err
	_ = c.proc.Kill()
	d.r.bg.Add(1)
	time.AfterFunc(exitDrainBound, func() {
		defer d.r.bg.Done()
		d.failChild(c, err, 0)
	})
}

func (d *daemonExecutor) failChild(c *daemonChild, err error, grace time.Duration) {
	d.mu.Lock()
	d.failLocked(c, err, grace)
	d.mu.Unlock()
}

// failLocked retires c after a failure: the waiting fire (if any) gets
// err, the child is stopped in the background (TERM, grace, tree kill;
// grace 0 kills right here), the loss is counted as a restart, and a
// restart is scheduled after the backoff. Idempotent per child.
func (d *daemonExecutor) failLocked(c *daemonChild, err error, grace time.Duration) {
	if c.gone {
		return
	}
	c.gone = true
	c.failed = true
	if c.waiting != nil {
		c.waiting <- daemonReply{err: err}
		c.waiting = nil
		c.wakeReplyReader()
	}
	if d.cur == c {
		d.cur = nil
	}
	if grace == 0 {
		_ = c.proc.Kill()
	}
	d.stopAsync(c, grace)
	if d.closed {
		return
	}
	d.lastErr = boundedText(err.Error())
	d.restarts++
	if m := d.r.hookMetrics(d.h.Name); m != nil {
		m.Restart()
	}
	if time.Since(c.started) >= healthyRun {
		d.failures = 0
	}
	delay := restartDelay(d.failures)
	d.failures++
	d.nextStart = time.Now().Add(delay)
	d.scheduleRestartLocked(delay)
	d.r.log.Warn("hooks: daemon child lost; restarting after backoff",
		"hook", d.h.Name, "child_pid", c.proc.Pid(), "err", err, "backoff", delay, "restarts", d.restarts)
}

// scheduleRestartLocked arms the proactive restart. The timer's goroutine
// exists only while it fires; r.bg lets Close wait for it.
func (d *daemonExecutor) scheduleRestartLocked(delay time.Duration) {
	d.cancelRestartLocked()
	d.r.bg.Add(1)
	d.timer = time.AfterFunc(delay, func() {
		defer d.r.bg.Done()
		d.restartNow()
	})
}

func (d *daemonExecutor) cancelRestartLocked() {
	if d.timer != nil && d.timer.Stop() {
		d.r.bg.Done()
	}
	d.timer = nil
}

// restartNow starts the child unless a fire holds the slot (that fire
// starts it itself) or it is already up.
func (d *daemonExecutor) restartNow() {
	select {
	case d.sem <- struct{}{}:
	default:
		return
	}
	defer d.release()
	d.mu.Lock()
	skip := d.closed || d.cur != nil
	d.mu.Unlock()
	if skip {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
	defer cancel()
	if _, err := d.start(ctx); err != nil && err != ErrClosed {
		d.r.log.Warn("hooks: daemon restart failed", "hook", d.h.Name, "err", err)
	}
}

// stopAsync stops c on a goroutine tracked by the registry: stopping may
// wait out the grace, which neither a fire nor the loop goroutine may do.
func (d *daemonExecutor) stopAsync(c *daemonChild, grace time.Duration) {
	d.r.bg.Add(1)
	go func() {
		defer d.r.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), grace+reapBound)
		defer cancel()
		c.stop(ctx, grace)
	}()
}

// stop closes stdin (a well-behaved daemon exits on EOF), sends TERM to
// the tree, waits up to grace, kills the tree, waits for the reap, logs
// the redacted stderr tail and releases the process. ctx bounds the waits.
func (c *daemonChild) stop(ctx context.Context, grace time.Duration) {
	d := c.d
	if c.stopExit != nil {
		c.stopExit()
	}
	_ = c.stdin.Close()
	if _, err := c.proc.Stop(ctx, grace); err != nil {
		_ = c.proc.Kill()
	}
	if c.outW != nil {
		c.outW.Close()
	}
	if c.errW != nil {
		c.errW.Close()
	}
	c.closeReplyReader()
	if tail := c.ring.Bytes(); len(bytes.TrimSpace(tail)) > 0 {
		// After a failure the tail is evidence (warn); at a clean stop
		// (close, reload) it is just the daemon's chatter (debug).
		log := d.r.log.Debug
		if c.failed {
			log = d.r.log.Warn
		}
		log("hooks: daemon child stderr at stop (redacted)", "hook", d.h.Name, "child_pid", c.proc.Pid(),
			"stderr_bytes", c.ring.Total(), "stderr", c.ring.Redacted())
	}
	if err := c.proc.Release(); err != nil {
		d.r.log.Warn("hooks: releasing daemon child", "hook", d.h.Name, "err", err)
	}
}

// Close stops the child (TERM, DaemonStopGrace, tree kill) and refuses
// further fires. It waits for the stop, bounded by ctx.
func (d *daemonExecutor) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.cancelRestartLocked()
	c := d.cur
	d.cur = nil
	if c != nil {
		c.gone = true
		if c.waiting != nil {
			c.waiting <- daemonReply{err: ErrClosed}
			c.waiting = nil
			c.wakeReplyReader()
		}
	}
	d.mu.Unlock()
	if c == nil {
		return nil
	}
	c.stop(ctx, d.r.grace)
	return ctx.Err()
}

func (d *daemonExecutor) state() HookState {
	d.mu.Lock()
	c := d.cur
	s := HookState{Mode: config.ModeDaemon, Restarts: d.restarts, LastError: d.lastErr}
	d.mu.Unlock()
	if c != nil {
		s.Running = true
		s.Pid = c.proc.Pid()
		s.Pids = []int{s.Pid}
		if st, err := c.proc.Stats(); err == nil {
			s.MemoryCurrent = st.MemoryCurrent
			s.CPU = st.CPU
		}
	}
	return s
}

func (d *daemonExecutor) supervisorRetry() { d.r.supervisorRetry(d.h.Name) }
