// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/ndjson"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Defaults applied when a Hook leaves a size at zero.
const (
	defaultStderrTail      = 4 << 10
	defaultDaemonStopGrace = 2 * time.Second
)

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Backend starts every child. It is required.
	Backend supervisor.Backend
	// Logger receives executor diagnostics; nil discards them.
	Logger *slog.Logger
	// Policy is the spawn gate checked before every spawn (SetPolicy
	// replaces it on reload).
	Policy config.Policy
	// DaemonStopGrace is the SIGTERM grace given to daemon children when
	// they are stopped; 0 means 2s.
	DaemonStopGrace time.Duration
	// Metrics returns the counters of a hook (restarts are counted there);
	// nil means none are kept.
	Metrics func(hook string) *HookMetrics
	// Events is the event catalog, used to decide how modify deltas are
	// typed (Event.MemoryDelta). nil means BuiltinEvents(); events missing
	// from it are treated as custom events.
	Events map[string]config.Event
}

// HookState is the live state of one hook's executor, for status output.
type HookState struct {
	Mode config.Mode
	// Running: a daemon child is up, or exec children are in flight.
	Running bool
	// Pid is the daemon child's pid (0 for exec mode or when down).
	Pid int
	// Pids are the direct children serving the hook now: the daemon's
	// child, or one per exec fire in flight. Each is the root of a process
	// tree in its own group.
	Pids []int
	// Restarts counts daemon children lost to crashes, framing errors or
	// timeouts since the executor was created.
	Restarts      uint64
	MemoryCurrent int64
	CPU           time.Duration
	LastError     string
}

// hookExecutor is what the registry keeps per hook: an Executor that can
// also report its state.
type hookExecutor interface {
	Executor
	state() HookState
}

// prestarter is implemented by executors that can start their child before
// the first fire (daemon mode).
type prestarter interface {
	Prestart(ctx context.Context) error
}

// Registry owns one executor per hook, keyed by the hook's name and a
// fingerprint of every field that affects its child, plus what all of them
// share: the backend, the ndjson loop that reads every child pipe, and the
// watcher that notices daemon children dying.
type Registry struct {
	opts    RegistryOptions
	log     *slog.Logger
	grace   time.Duration
	policy  atomic.Pointer[config.Policy]
	catalog atomic.Pointer[map[string]config.Event]

	loopOnce sync.Once
	loop     *ndjson.Loop
	loopErr  error

	mu     sync.Mutex
	closed bool
	execs  map[string]hookExecutor // by key
	byName map[string]string       // hook name -> key of its newest executor

	// bg tracks background stops (daemon resets), so Close can wait for
	// them and no goroutine outlives the registry.
	bg sync.WaitGroup
}

// NewRegistry returns an empty registry. Executors are created on demand
// by Executor.
func NewRegistry(opts RegistryOptions) *Registry {
	r := &Registry{
		opts:   opts,
		log:    opts.Logger,
		grace:  opts.DaemonStopGrace,
		execs:  make(map[string]hookExecutor),
		byName: make(map[string]string),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.grace <= 0 {
		r.grace = defaultDaemonStopGrace
	}
	p := opts.Policy
	r.policy.Store(&p)
	r.SetEvents(opts.Events)
	return r
}

// SetPolicy replaces the spawn policy; it applies from the next spawn on.
// Running daemon children are not re-checked.
func (r *Registry) SetPolicy(p config.Policy) { r.policy.Store(&p) }

// SetEvents replaces the event catalog (nil: BuiltinEvents()).
func (r *Registry) SetEvents(events map[string]config.Event) {
	if events == nil {
		events = config.BuiltinEvents()
	}
	r.catalog.Store(&events)
}

// hookMetrics returns the hook's counters, or nil.
func (r *Registry) hookMetrics(name string) *HookMetrics {
	if r.opts.Metrics == nil {
		return nil
	}
	return r.opts.Metrics(name)
}

// supervisorRetry counts a retried supervisor failure of the named hook.
func (r *Registry) supervisorRetry(name string) {
	if m := r.hookMetrics(name); m != nil {
		m.SupervisorRetry()
	}
}

// ndjsonLoop returns the loop shared by every executor, creating it on
// first use.
func (r *Registry) ndjsonLoop() (*ndjson.Loop, error) {
	r.loopOnce.Do(func() {
		r.loop, r.loopErr = ndjson.NewLoop()
		if r.loopErr != nil {
			r.loopErr = fmt.Errorf("%w: pipe loop: %w", ErrIO, r.loopErr)
		}
	})
	return r.loop, r.loopErr
}

// Executor returns the executor of h, creating it on first use. Two calls
// with hooks that differ only in fields that do not affect the child
// (priority, timeout, fail_mode, namespace...) return the same executor,
// so a reload that leaves a daemon hook's command alone keeps its child.
func (r *Registry) Executor(h *config.Hook) (Executor, error) {
	if h == nil {
		return nil, errors.New("executor: nil hook")
	}
	if r.opts.Backend == nil {
		return nil, errors.New("executor: registry has no backend")
	}
	p := compile(h, *r.catalog.Load(), os.LookupEnv)
	mode, key := p.mode, p.key
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if ex, ok := r.execs[key]; ok {
		return ex, nil
	}
	var ex hookExecutor
	if mode == config.ModeDaemon {
		ex = newDaemonExecutor(r, p)
	} else {
		ex = newExecExecutor(r, p)
	}
	r.execs[key] = ex
	r.byName[h.Name] = key
	return ex, nil
}

// hookMode resolves an unset mode from the event's default.
func (r *Registry) hookMode(h *config.Hook) config.Mode {
	if h.Mode != "" {
		return h.Mode
	}
	if ev, ok := (*r.catalog.Load())[h.Event]; ok && ev.DefaultMode != "" {
		return ev.DefaultMode
	}
	return config.ModeExec
}

// Prestart starts the daemon children of the enabled daemon-mode hooks
// now instead of at their first fire, so a service can report ready only
// once its daemons are up. It returns the joined errors of the hooks that
// could not start; those retry at their next fire.
func (r *Registry) Prestart(ctx context.Context, hooks []config.Hook) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range hooks {
		h := &hooks[i]
		if !h.Enabled || r.hookMode(h) != config.ModeDaemon {
			continue
		}
		ex, err := r.Executor(h)
		if err != nil {
			return err
		}
		p, ok := ex.(prestarter)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Prestart(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("hook %q: %w", h.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Reconcile makes the registry match hooks (a reloaded config): executors
// whose key is not among the enabled hooks are closed (their children
// stopped with TERM, grace, tree kill), in parallel and bounded by ctx;
// unchanged hooks keep their executor and daemon child. New hooks get
// their executor at their first fire (or Prestart).
func (r *Registry) Reconcile(ctx context.Context, hooks []config.Hook) {
	want := make(map[string]bool, len(hooks))
	for i := range hooks {
		if hooks[i].Enabled {
			want[planKey(&hooks[i], r.hookMode(&hooks[i]))] = true
		}
	}
	r.mu.Lock()
	var stale []hookExecutor
	for key, ex := range r.execs {
		if !want[key] {
			stale = append(stale, ex)
			delete(r.execs, key)
		}
	}
	for name, key := range r.byName {
		if _, ok := r.execs[key]; !ok {
			delete(r.byName, name)
		}
	}
	r.mu.Unlock()
	if err := closeAll(ctx, stale); err != nil {
		r.log.Warn("hooks: stopping removed hooks", "err", err)
	}
}

// State returns the live state of the named hook's newest executor.
func (r *Registry) State(name string) (HookState, bool) {
	r.mu.Lock()
	ex, ok := r.execs[r.byName[name]]
	r.mu.Unlock()
	if !ok {
		return HookState{}, false
	}
	return ex.state(), true
}

// Close stops every executor in parallel (bounded by ctx), then the shared
// pipe loop and exit watcher. Later calls to Executor fail with ErrClosed.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	all := make([]hookExecutor, 0, len(r.execs))
	for _, ex := range r.execs {
		all = append(all, ex)
	}
	clear(r.execs)
	clear(r.byName)
	r.mu.Unlock()

	err := closeAll(ctx, all)
	// Background stops are bounded by the stop grace plus a reap; wait for
	// them so no goroutine or child outlives Close (unless ctx ends).
	done := make(chan struct{})
	go func() { r.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	r.loopOnce.Do(func() {}) // no loop may be created after this point
	if r.loop != nil {
		err = errors.Join(err, r.loop.Close())
	}
	return err
}

// closeAll closes executors in parallel and joins their errors.
func closeAll(ctx context.Context, exs []hookExecutor) error {
	errs := make([]error, len(exs))
	var wg sync.WaitGroup
	for i, ex := range exs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ex.Close(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
