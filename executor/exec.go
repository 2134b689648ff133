// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/ndjson"
	"github.com/hooksupd/hooksupd/redact"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Bounds of the exec path that are not part of a hook's budget.
const (
	// exitDrainBound is how long a fire waits for stdout/stderr EOF after
	// the direct child has exited. Longer means a process the hook left
	// behind still holds a pipe (docs/pitfalls.md #1): the tree is
	// killed instead of letting the fire hang into its timeout.
	exitDrainBound = 100 * time.Millisecond
	// killDrainBound is how long a fire waits for EOF after that kill.
	// A process that escaped the tree (setsid on the portable backend)
	// may hold the pipe forever; the fire stops reading instead.
	killDrainBound = 100 * time.Millisecond
	// reapBound bounds the wait for the kernel to reap a killed child.
	// SIGKILL is not blockable; this only guards against a broken backend.
	reapBound = 5 * time.Second
)

// hookError carries one sentinel (kind) and a message that is exactly
// what operators and clients see. It never contains hook stderr.
type hookError struct {
	kind  error
	msg   string
	cause error
}

func (e *hookError) Error() string { return e.msg }

// Unwrap returns the sentinel and, when set, the cause.
func (e *hookError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// exitError describes a child that ended unsuccessfully, without stderr
// (seed P2: the message may reach a client inside a deny reason).
func exitError(st supervisor.ExitStatus) error {
	if st.Signal != 0 {
		return &hookError{kind: ErrExit, msg: fmt.Sprintf("hook child exited (signal %d: %v)", int(st.Signal), st.Signal)}
	}
	return &hookError{kind: ErrExit, msg: fmt.Sprintf("hook child exited (code %d)", st.Code)}
}

// timeoutError reports a fire whose ctx ended after it had started.
//
// The message names the budget the hook had (its timeout_ms, or what was
// left of the event's class deadline), so a reader can tell a slow hook
// from a tight budget.
func timeoutError(ctx context.Context, start time.Time) error {
	elapsed := time.Since(start).Milliseconds()
	msg := fmt.Sprintf("hook timed out after %dms", elapsed)
	if dl, ok := ctx.Deadline(); ok {
		msg = fmt.Sprintf("hook timed out after %dms budget (%dms elapsed)", dl.Sub(start).Round(time.Millisecond).Milliseconds(), elapsed)
	}
	return &hookError{kind: ErrTimeout, msg: msg, cause: ctx.Err()}
}

// oomError reports a tree killed by its memory limit, naming the limit.
func oomError(l supervisor.Limits) error {
	return &hookError{kind: ErrOOMKilled, msg: fmt.Sprintf("hook killed by the memory limit (memory_max %d bytes)", l.MemoryMax)}
}

// envelope is the request line: {"event":…,"payload":…} plus "\n". The
// field order is the seed's.
func envelope(event string, payload json.RawMessage) ([]byte, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = json.RawMessage("null")
	}
	ev, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(payload) + len(ev) + 24)
	b.WriteString(`{"event":`)
	b.Write(ev)
	b.WriteString(`,"payload":`)
	if oneLine(payload) {
		// Already one line (the Dispatcher validated and compacted it):
		// copy it as is. Compacting a 1 MiB payload again would cost
		// ~5 ms, ten times the fire itself.
		b.Write(payload)
	} else if err := json.Compact(&b, payload); err != nil {
		return nil, &hookError{kind: ErrIO, msg: "hook payload is not valid JSON", cause: err}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// oneLine reports whether p holds no line break, so it can go into an
// NDJSON line unchanged. (Two IndexByte scans are vectorised; one IndexAny
// is not.)
func oneLine(p []byte) bool {
	return bytes.IndexByte(p, '\n') < 0 && bytes.IndexByte(p, '\r') < 0
}

// withHookTimeout gives ctx the hook's own timeout when the caller set no
// deadline at all; the chain normally sets it, and then this adds nothing.
func withHookTimeout(ctx context.Context, h *config.Hook) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || h.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.Timeout)
}

// execExecutor runs one child per fire (exec mode).
type execExecutor struct {
	r    *Registry
	p    *plan
	h    *config.Hook // &p.hook
	gate policyGate
	sem  *fairSem // max_concurrency slots; nil when unbounded

	mu       sync.Mutex
	closed   bool
	inflight map[supervisor.Process]struct{}
	fires    sync.WaitGroup
	lastErr  string
	lastCPU  time.Duration
}

func newExecExecutor(r *Registry, p *plan) *execExecutor {
	h := &p.hook
	e := &execExecutor{r: r, p: p, h: h, inflight: make(map[supervisor.Process]struct{})}
	if h.MaxConcurrency > 0 {
		e.sem = newFairSem(h.MaxConcurrency)
	}
	return e
}

// Fire runs one child: policy, slot, spawn, envelope, concurrent drain of
// stdout and stderr, exit, decision.
func (e *execExecutor) Fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return Decision{}, ErrClosed
	}
	e.fires.Add(1)
	e.mu.Unlock()
	defer e.fires.Done()

	ctx, cancel := withHookTimeout(ctx, e.h)
	defer cancel()
	d, err := e.fire(ctx, event, payload)
	if err != nil {
		e.mu.Lock()
		e.lastErr = boundedText(err.Error())
		e.mu.Unlock()
	}
	return d, err
}

func (e *execExecutor) fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error) {
	start := time.Now()
	if err := e.gate.check(e.r.policy.Load(), e.h.Command); err != nil {
		return Decision{}, err
	}
	if e.sem != nil {
		if err := e.sem.acquire(ctx); err != nil {
			return Decision{}, &hookError{kind: ErrDropped, cause: err,
				msg: fmt.Sprintf("hook fire dropped: no free slot (max_concurrency %d) within its deadline", e.h.MaxConcurrency)}
		}
		defer e.sem.release()
	}
	line, err := envelope(event, payload)
	if err != nil {
		return Decision{}, err
	}
	loop, err := e.r.ndjsonLoop()
	if err != nil {
		return Decision{}, err
	}
	proc, err := spawn(ctx, e.r.opts.Backend, &e.p.spec, e.r.log, e.supervisorRetry)
	if err != nil {
		return Decision{}, err
	}
	setChildPid(ctx, proc.Pid())
	run := &execRun{
		e:       e,
		proc:    proc,
		max:     e.p.stdoutMax,
		ring:    redact.NewRing(e.p.stderrTail),
		outDone: make(chan struct{}),
		errDone: make(chan struct{}),
	}
	e.track(proc)
	d, err := run.drive(ctx, loop, line, start, e.p.memoryDelta)
	e.untrack(proc)
	// ReleaseStats reads the group once the whole tree is gone: CPU time
	// and memory peak of every process the fire started, for the hook's
	// resource histograms and its log line.
	st, rerr := supervisor.ReleaseStats(proc)
	setResources(ctx, st.CPU, st.MemoryPeak)
	if lim := e.p.spec.Limits.PidsMax; err != nil && lim > 0 && st.PidsPeak >= lim && KindOf(err) == KindExit {
		// A refused fork shows only as the program's own failure; say
		// which cap it ran into.
		err = &hookError{kind: ErrExit, msg: fmt.Sprintf("%v; its tree reached pids_max (%d tasks), so a fork failed", err, lim)}
	}
	if rerr != nil {
		e.r.log.Warn("hooks: releasing hook child", "hook", e.h.Name, "fire_id", FireIDFrom(ctx),
			"child_pid", proc.Pid(), "err", rerr)
	}
	run.logStderr(ctx, err)
	return d, err
}

// track registers a live child so Close can kill it; untrack runs before
// Release, under the same lock, so Close never kills a released process
// (whose group may already serve another child). A child spawned after
// Close began is killed at once.
func (e *execExecutor) track(p supervisor.Process) {
	e.mu.Lock()
	e.inflight[p] = struct{}{}
	if e.closed {
		_ = p.Kill()
	}
	e.mu.Unlock()
}

func (e *execExecutor) untrack(p supervisor.Process) {
	e.mu.Lock()
	delete(e.inflight, p)
	e.mu.Unlock()
}

// Close refuses new fires, lets in-flight children finish for up to the
// stop grace (bounded by ctx), then kills the trees still running and
// waits for their fires to end.
func (e *execExecutor) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.fires.Wait(); close(done) }()
	t := time.NewTimer(e.r.grace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	e.mu.Lock()
	for p := range e.inflight {
		_ = p.Kill()
	}
	e.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *execExecutor) state() HookState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := HookState{Mode: config.ModeExec, Running: len(e.inflight) > 0, CPU: e.lastCPU, LastError: e.lastErr}
	for p := range e.inflight {
		s.Pids = append(s.Pids, p.Pid())
	}
	return s
}

// execRun is the state of one exec fire. The sinks run on the loop
// goroutine; mu guards what they share with the fire.
type execRun struct {
	e    *execExecutor
	proc supervisor.Process
	max  int
	ring *redact.Ring

	mu       sync.Mutex
	out      []byte
	over     bool  // stdout exceeded max; the tree was killed
	finished bool  // the fire is done with proc: sinks must not touch it
	outErr   error // stdout read error other than EOF
	outDone  chan struct{}
	errDone  chan struct{}
}

// stdoutSink accumulates stdout up to the cap.
type stdoutSink struct{ r *execRun }

func (s stdoutSink) OnData(p []byte) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over || r.finished {
		return
	}
	if len(r.out)+len(p) > r.max {
		// Kill is a non-blocking signal (or cgroup.kill write): fine on
		// the loop goroutine, and it ends the flood at once.
		r.over = true
		r.out = nil
		_ = r.proc.Kill()
		return
	}
	r.out = append(r.out, p...)
}

func (s stdoutSink) OnClose(err error) {
	if err != nil && !errors.Is(err, ndjson.ErrClosed) {
		s.r.mu.Lock()
		s.r.outErr = err
		s.r.mu.Unlock()
	}
	close(s.r.outDone)
}

// ringSink keeps the stderr tail.
type ringSink struct {
	ring *redact.Ring
	done chan struct{}
}

func (s ringSink) OnData(p []byte) { _, _ = s.ring.Write(p) }

func (s ringSink) OnClose(error) {
	if s.done != nil {
		close(s.done)
	}
}

// drive runs one fire on a started child and always leaves it reaped, its
// pipes closed and its tree killed if it lingers; the caller releases it.
//
// When the whole envelope fits into the child's stdin at once (the common
// case: a fresh pipe takes 64 KiB), this goroutine reads stdout itself,
// through the runtime poller, and the ndjson loop only drains stderr: one
// wake-up per read instead of the loop's and then this goroutine's, and
// no descriptor handed to the loop. Otherwise the loop drains stdout too
// while the rest of the envelope is written.
func (r *execRun) drive(ctx context.Context, loop *ndjson.Loop, line []byte, start time.Time, memoryDelta bool) (Decision, error) {
	p := r.proc
	stdin := p.Stdin()
	stdout := p.Stdout()
	errW, err := loop.Watch(p.Stderr(), ringSink{ring: r.ring, done: r.errDone})
	if err != nil {
		_ = stdin.Close()
		_ = stdout.Close()
		_ = p.Kill()
		<-p.Done()
		return Decision{}, &hookError{kind: ErrIO, msg: "hook io error: watching stderr", cause: err}
	}
	n, werr := ndjson.WriteNow(stdin, line)
	// Inline reading needs a read deadline on stdout (the runtime poller).
	inline := werr == nil && n == len(line) && stdout.SetReadDeadline(time.Time{}) == nil
	var outW *ndjson.Watch
	if !inline {
		if outW, err = loop.Watch(stdout, stdoutSink{r}); err != nil {
			errW.Close()
			_ = stdin.Close()
			_ = p.Kill()
			<-p.Done()
			return Decision{}, &hookError{kind: ErrIO, msg: "hook io error: watching stdout", cause: err}
		}
	}
	defer func() {
		r.mu.Lock()
		r.finished = true
		r.mu.Unlock()
		if outW != nil {
			outW.Close()
		}
		errW.Close()
	}()
	if !inline && werr == nil {
		// Stdout and stderr are already being drained by the loop, so a
		// child that floods either before reading stdin cannot deadlock
		// this write.
		werr = ndjson.WriteAll(ctx, stdin, line[n:])
	}
	_ = stdin.Close()
	if inline {
		if lingering, err := r.readStdout(ctx, stdout); err != nil {
			return Decision{}, r.timedOut(ctx, start)
		} else if lingering {
			return r.decide(ctx, werr, true, memoryDelta)
		}
	}

	select {
	case <-p.Done():
	case <-ctx.Done():
		return Decision{}, r.timedOut(ctx, start)
	}
	lingering := !r.drained(ctx.Done(), exitDrainBound)
	if lingering {
		_ = p.Kill()
		r.drained(nil, killDrainBound)
	}
	return r.decide(ctx, werr, lingering, memoryDelta)
}

// decide turns the reaped child's status and output into the fire's
// result.
func (r *execRun) decide(ctx context.Context, werr error, lingering bool, memoryDelta bool) (Decision, error) {
	p := r.proc
	st, _ := p.Wait(context.Background()) // exited: returns at once
	r.e.mu.Lock()
	r.e.lastCPU = st.CPU
	closed := r.e.closed
	r.e.mu.Unlock()

	r.mu.Lock()
	over, out, outErr := r.over, r.out, r.outErr
	r.mu.Unlock()
	switch {
	case over:
		return Decision{}, &hookError{kind: ErrDecode, msg: fmt.Sprintf("hook decision decode failed: stdout exceeded %d bytes", r.max)}
	case st.OOMKilled:
		return Decision{}, oomError(r.e.p.spec.Limits)
	case closed && st.Signal != 0:
		return Decision{}, ErrClosed
	case !st.Success():
		return Decision{}, exitError(st)
	}
	if lingering {
		r.e.r.log.Warn("hooks: hook exited but left a process holding its output; tree killed",
			"hook", r.e.h.Name, "fire_id", FireIDFrom(ctx), "child_pid", p.Pid())
	}
	if outErr != nil {
		return Decision{}, &hookError{kind: ErrIO, msg: "hook io error: reading stdout", cause: outErr}
	}
	last := lastNonEmptyLine(out)
	if werr != nil {
		// EPIPE only means the child did not read the envelope; a child
		// that exits 0 with a decision anyway has answered.
		if !errors.Is(werr, syscall.EPIPE) {
			return Decision{}, &hookError{kind: ErrIO, msg: "hook io error: writing the envelope", cause: werr}
		}
		if len(last) == 0 {
			return Decision{}, &hookError{kind: ErrIO, msg: "hook io error: hook closed stdin before reading the envelope and gave no decision", cause: werr}
		}
	}
	return ParseDecision(last, memoryDelta)
}

// drained waits for EOF on both streams for at most bound, or until stop
// is closed (nil: never). It reports whether both reached EOF.
func (r *execRun) drained(stop <-chan struct{}, bound time.Duration) bool {
	t := time.NewTimer(bound)
	defer t.Stop()
	for _, ch := range []chan struct{}{r.outDone, r.errDone} {
		select {
		case <-ch:
		case <-t.C:
			return false
		case <-stop:
			// The child has exited; its result stands. Only a lingering
			// pipe holder is cut short.
			select {
			case <-ch:
			default:
				return false
			}
		}
	}
	return true
}

// timedOut kills the tree at once (no grace: the budget is spent) and
// waits for the reap, so the child is gone when Fire returns.
func (r *execRun) timedOut(ctx context.Context, start time.Time) error {
	_ = r.proc.Kill()
	t := time.NewTimer(reapBound)
	defer t.Stop()
	select {
	case <-r.proc.Done():
	case <-t.C:
		r.e.r.log.Error("hooks: hook child not reaped after kill", "hook", r.e.h.Name,
			"fire_id", FireIDFrom(ctx), "child_pid", r.proc.Pid())
	}
	return timeoutError(ctx, start)
}

// logStderr logs the redacted stderr tail: debug after a success, warn
// after a failure. Stderr never goes into an error.
func (r *execRun) logStderr(ctx context.Context, err error) {
	tail := r.ring.Bytes()
	if len(bytes.TrimSpace(tail)) == 0 {
		return
	}
	args := []any{"hook", r.e.h.Name, "fire_id", FireIDFrom(ctx), "child_pid", r.proc.Pid(),
		"stderr_bytes", r.ring.Total(), "stderr", r.ring.Redacted()}
	if err == nil {
		r.e.r.log.Debug("hooks: hook stderr", args...)
		return
	}
	r.e.r.log.Warn("hooks: hook stderr at failure (redacted)", append(args, "err", err)...)
}

// lastNonEmptyLine returns the last line of out that is not blank (the
// seed's rule: debug prints before the decision are tolerated).
func lastNonEmptyLine(out []byte) []byte {
	for len(out) > 0 {
		i := bytes.LastIndexByte(out, '\n')
		if line := bytes.TrimSpace(out[i+1:]); len(line) > 0 {
			return line
		}
		if i < 0 {
			return nil
		}
		out = out[:i]
	}
	return nil
}

func (e *execExecutor) supervisorRetry() { e.r.supervisorRetry(e.h.Name) }
