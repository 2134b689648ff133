// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

// ErrBadPayload is returned by Fire for a payload that is not valid JSON.
var ErrBadPayload = errors.New("payload is not valid JSON")

// Options configure a Dispatcher.
type Options struct {
	// Backend starts every hook child. nil: New creates one from the
	// config's [supervisor] table and closes it in Close.
	Backend supervisor.Backend
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
}

// Dispatcher fires events at the hooks of a config and supports hot
// reload. It is safe for concurrent use.
type Dispatcher struct {
	log        *slog.Logger
	backend    supervisor.Backend
	ownBackend bool
	registry   *Registry
	violations atomic.Uint64

	cur atomic.Pointer[generation]

	metricsMu sync.Mutex
	metrics   map[string]*HookMetrics

	inflight atomic.Int64
	closed   atomic.Bool
	idle     chan struct{} // signalled when the last fire leaves after Close

	// reloadMu serialises Reload and the reconcile that follows the drain
	// of old generations, so a reconcile never runs against a config that
	// is no longer current.
	reloadMu sync.Mutex
	retiring map[*generation]struct{}

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// generation is one loaded config with its chains. A fire pins the
// generation it starts on and runs entirely on it.
type generation struct {
	cfg     *config.Config
	chains  map[string]*chain
	gate    gate
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	drained chan struct{} // closed once retired and no fire holds it
}

func (g *generation) unpin() {
	if g.refs.Add(-1) == 0 && g.retired.Load() {
		g.once.Do(func() { close(g.drained) })
	}
}

func (g *generation) retire() {
	g.retired.Store(true)
	if g.refs.Load() == 0 {
		g.once.Do(func() { close(g.drained) })
	}
}

// New validates cfg against the backend and returns a Dispatcher for it.
// With a nil Options.Backend it creates the backend cfg.Supervisor asks
// for. Every enabled hook that sets limits must be enforceable by the
// backend unless it sets allow_uncapped; otherwise New returns a
// *ConfigError naming each such hook and limit.
func New(cfg *config.Config, opts Options) (*Dispatcher, error) {
	if cfg == nil {
		return nil, errors.New("executor: nil config")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		log:      log,
		backend:  opts.Backend,
		metrics:  make(map[string]*HookMetrics),
		idle:     make(chan struct{}, 1),
		retiring: make(map[*generation]struct{}),
	}
	if d.backend == nil {
		b, err := supervisor.New(supervisor.Options{
			Kind:         cfg.Supervisor.Backend,
			CgroupParent: cfg.Supervisor.CgroupParent,
			Logger:       log,
			HiddenPaths:  HiddenPaths(cfg, log),
		})
		if err != nil {
			return nil, fmt.Errorf("executor: supervisor backend: %w", err)
		}
		d.backend, d.ownBackend = b, true
	}
	d.registry = NewRegistry(RegistryOptions{
		Backend:         d.backend,
		Logger:          log,
		Policy:          cfg.Policy,
		DaemonStopGrace: cfg.Supervisor.DaemonStopGrace,
		Metrics:         d.metricsFor,
		Events:          cfg.Events,
	})
	g, err := d.build(cfg)
	if err != nil {
		_ = d.registry.Close(context.Background()) // nothing started yet
		if d.ownBackend {
			_ = d.backend.Close()
		}
		return nil, err
	}
	d.cur.Store(g)
	d.bgCtx, d.bgCancel = context.WithCancel(context.Background())
	d.logPreflight(cfg)
	return d, nil
}

// build validates cfg and makes its generation.
func (d *Dispatcher) build(cfg *config.Config) (*generation, error) {
	if cfg == nil {
		return nil, errors.New("executor: nil config")
	}
	if err := d.checkLimits(cfg); err != nil {
		return nil, err
	}
	if err := checkPolicies(cfg); err != nil {
		return nil, err
	}
	events := cfg.Events
	if events == nil {
		events = config.BuiltinEvents()
	}
	g := &generation{cfg: cfg, chains: make(map[string]*chain, len(events)),
		gate: newGate(cfg.Enforce), drained: make(chan struct{})}
	for name, ev := range events {
		if ev.Name == "" {
			ev.Name = name
		}
		hooks := cfg.HooksFor(name)
		chs := make([]chainHook, len(hooks))
		for i, h := range hooks {
			chs[i] = chainHook{hook: h, failMode: g.gate.failMode(&h), metrics: d.metricsFor(h.Name)}
		}
		g.chains[name] = newChain(ev, chs, d.registry.Executor, d.log, &d.violations)
	}
	return g, nil
}

// limitField is one hooks.toml limit key and the part of Limits it sets.
type limitField struct {
	key string
	l   supervisor.Limits
}

// limitFields splits Limits by the hooks.toml keys that set them, so an
// error names exactly the limit the backend cannot enforce.
func limitFields(l supervisor.Limits) []limitField {
	all := []limitField{
		{"memory_max", supervisor.Limits{MemoryMax: l.MemoryMax}},
		{"cpu_max", supervisor.Limits{CPUQuota: l.CPUQuota, CPUPeriod: l.CPUPeriod}},
		{"pids_max", supervisor.Limits{PidsMax: l.PidsMax}},
		{"nofile", supervisor.Limits{NoFile: l.NoFile}},
	}
	out := all[:0]
	for _, f := range all {
		if !f.l.IsZero() {
			out = append(out, f)
		}
	}
	return out
}

// checkLimits refuses a config that asks for limits the backend cannot
// enforce, unless the hook allows running uncapped: a cap that silently
// does nothing is worse than a config error.
func (d *Dispatcher) checkLimits(cfg *config.Config) error {
	var errs []config.FieldError
	backend := d.backend.Mechanisms().Backend
	for _, h := range cfg.Hooks {
		if !h.Enabled || h.AllowUncapped || h.Limits.IsZero() || d.backend.CanEnforce(supervisorLimits(h.Limits)) == nil {
			continue
		}
		n := len(errs)
		for _, f := range limitFields(supervisorLimits(h.Limits)) {
			if err := d.backend.CanEnforce(f.l); err != nil {
				errs = append(errs, limitError(&h, "limits."+f.key, backend, err))
			}
		}
		if len(errs) == n { // only the combination is refused
			errs = append(errs, limitError(&h, "limits", backend, d.backend.CanEnforce(supervisorLimits(h.Limits))))
		}
	}
	if len(errs) > 0 {
		return &config.ConfigError{Errors: errs}
	}
	return nil
}

// checkPolicies refuses a config with an enabled hook the spawn gate
// would refuse on every fire (a world-writable command or directory, a
// command owned by another user, an allow_commands miss, a deny_commands
// match): under fail_mode "open" each such fire would turn into "allow"
// from a hook that never ran. The gate is evaluated as at fire time, as
// this process's effective user; it still runs before every spawn, for
// files changed after the load. A command that does not exist yet is left
// to the spawn to report.
func checkPolicies(cfg *config.Config) error {
	var errs []config.FieldError
	for _, h := range cfg.Hooks {
		if !h.Enabled {
			continue
		}
		if err := checkPolicy(&cfg.Policy, h.Command); err != nil {
			msg := strings.TrimPrefix(err.Error(), "policy: ")
			errs = append(errs, config.FieldError{Pos: h.Pos, Hook: h.Name, Field: "command",
				Msg: "refused by [policy]: " + msg})
		}
	}
	if len(errs) > 0 {
		return &config.ConfigError{Errors: errs}
	}
	return nil
}

func limitError(h *config.Hook, field, backend string, err error) config.FieldError {
	msg := fmt.Sprintf("the %s backend cannot enforce limits; set allow_uncapped = true to run uncapped", backend)
	if backend != "portable" {
		// Say what is missing (a controller, a kernel feature): unlike the
		// portable backend, the Linux one can enforce limits in general.
		msg = fmt.Sprintf("the %s backend cannot enforce limits (%v); set allow_uncapped = true to run uncapped", backend, err)
	}
	return config.FieldError{Pos: h.Pos, Hook: h.Name, Field: field, Msg: msg}
}

// metricsFor returns the counters of the named hook, creating them on
// first use. Counters survive reloads, keyed by hook name.
func (d *Dispatcher) metricsFor(name string) *HookMetrics {
	d.metricsMu.Lock()
	defer d.metricsMu.Unlock()
	m, ok := d.metrics[name]
	if !ok {
		m = NewHookMetrics()
		d.metrics[name] = m
	}
	return m
}

func (d *Dispatcher) logPreflight(cfg *config.Config) {
	for _, l := range Preflight(cfg) {
		d.log.Log(context.Background(), l.Level, "hooks.enforce preflight: "+l.Text, "event", l.Event)
	}
}

// pin returns the current generation with a reference held. The re-check
// after the increment makes sure a generation that Reload has already
// retired is never used by a new fire.
func (d *Dispatcher) pin() *generation {
	for {
		g := d.cur.Load()
		g.refs.Add(1)
		if d.cur.Load() == g {
			return g
		}
		g.unpin()
	}
}

func (d *Dispatcher) leave() {
	if d.inflight.Add(-1) == 0 && d.closed.Load() {
		select {
		case d.idle <- struct{}{}:
		default:
		}
	}
}

// Fire delivers one event with payload to the chain of hooks bound to it
// and returns the chain's result. namespaces are the in-flight namespaces
// the host resolved: a hook fires when its pattern matches any of them
// (an empty list fires only match-all hooks); when there is exactly one
// and the payload is a JSON object, payload["namespace"] is overwritten
// with it before the first hook, so a client cannot spoof it in the body.
// An empty payload is sent as {}.
//
// The error is non-nil only for an unknown event (ErrUnknownEvent), a
// closed dispatcher (ErrClosed) or a payload that is not JSON
// (ErrBadPayload); every hook failure is in the Result.
func (d *Dispatcher) Fire(ctx context.Context, event string, namespaces []string, payload json.RawMessage) (*Result, error) {
	d.inflight.Add(1)
	defer d.leave()
	if d.closed.Load() {
		return nil, ErrClosed
	}
	g := d.pin()
	defer g.unpin()
	c, ok := g.chains[event]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, quoteEcho(event))
	}
	p, err := normalizePayload(payload)
	if err != nil {
		return nil, err
	}
	id := FireIDFrom(ctx)
	if id == "" {
		id = NewFireID()
		ctx = WithFireID(ctx, id)
	}
	if res := g.gate.check(c, namespaces, d.log); res != nil {
		res.FireID = id
		return res, nil
	}
	res := c.fire(ctx, namespaces, p)
	res.FireID = id
	return res, nil
}

// normalizePayload validates payload and compacts it onto one line, as
// the NDJSON envelope to the hooks needs.
func normalizePayload(p json.RawMessage) (json.RawMessage, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if oneLine(p) {
		// Validating costs half of compacting; a payload without line
		// breaks needs no rewriting to fit on one NDJSON line.
		if !json.Valid(p) {
			var b bytes.Buffer
			err := json.Compact(&b, p) // only for the error's position
			return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
		}
		return p, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return b.Bytes(), nil
}

// Reload switches to cfg. An invalid cfg returns its error and the
// current config keeps running (silently losing hooks would be a security
// regression). Fires already running finish on the config they started
// with; once they are done (or after a bounded wait), the daemons of
// removed or changed hooks are stopped and unchanged hooks keep theirs.
// The spawn policy applies from the next spawn. [supervisor] settings
// apply only at the next start.
func (d *Dispatcher) Reload(cfg *config.Config) error {
	if d.closed.Load() {
		return ErrClosed
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	g, err := d.build(cfg)
	if err != nil {
		d.log.Error("hooks: reload failed; keeping previous config", "err", err)
		return err
	}
	old := d.cur.Load()
	if old.cfg.Supervisor.Backend != cfg.Supervisor.Backend || old.cfg.Supervisor.CgroupParent != cfg.Supervisor.CgroupParent {
		d.log.Warn("hooks: [supervisor] backend and cgroup_parent changes apply at the next start")
	}
	d.registry.SetPolicy(cfg.Policy)
	d.registry.SetEvents(cfg.Events)
	d.cur.Store(g)
	old.retire()
	d.retiring[old] = struct{}{}
	d.bg.Add(1)
	go d.drain(old, drainBound(old.cfg))
	d.log.Info("hooks: reloaded config", "hooks", len(cfg.Hooks), "path", cfg.Path)
	return nil
}

// drainBound is how long a retired generation's fires may still run: the
// longest class deadline or hook timeout, plus time for kills and reaps.
func drainBound(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, ev := range cfg.Events {
		longest = max(longest, ev.Deadline)
	}
	for _, h := range cfg.Hooks {
		longest = max(longest, h.Timeout)
	}
	return longest + 5*time.Second
}

// drain waits until old has no fire in flight (or bound passes), then, if
// no other generation is still draining, reconciles the registry with the
// current config.
func (d *Dispatcher) drain(old *generation, bound time.Duration) {
	defer d.bg.Done()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-old.drained:
	case <-t.C:
		d.log.Warn("hooks: fires of the previous config still running; stopping removed hooks anyway",
			"waited", bound, "inflight", old.refs.Load())
	case <-d.bgCtx.Done():
		return // Close stops everything
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	delete(d.retiring, old)
	if len(d.retiring) > 0 {
		return // the last generation to drain reconciles
	}
	cfg := d.cur.Load().cfg
	grace := cfg.Supervisor.DaemonStopGrace
	if grace <= 0 {
		grace = defaultDaemonStopGrace
	}
	ctx, cancel := context.WithTimeout(d.bgCtx, 2*grace+5*time.Second)
	defer cancel()
	d.registry.Reconcile(ctx, cfg.Hooks)
	d.pruneMetrics(cfg)
}

// pruneMetrics drops the counters of hooks no longer in cfg.
func (d *Dispatcher) pruneMetrics(cfg *config.Config) {
	keep := make(map[string]bool, len(cfg.Hooks))
	for _, h := range cfg.Hooks {
		keep[h.Name] = true
	}
	d.metricsMu.Lock()
	defer d.metricsMu.Unlock()
	for name := range d.metrics {
		if !keep[name] {
			delete(d.metrics, name)
		}
	}
}

// Prestart starts the daemon children of the current config's daemon
// hooks now rather than at their first fire (for a service that reports
// ready once its daemons are up). Hooks that fail retry at their next
// fire; the joined errors are returned.
func (d *Dispatcher) Prestart(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.registry.Prestart(ctx, d.Config().Hooks)
}

// Config returns the config in use. It must not be modified.
func (d *Dispatcher) Config() *config.Config { return d.cur.Load().cfg }

// Status is a point-in-time report of a Dispatcher.
type Status struct {
	// ConfigPath is the file the config was loaded from ("" if parsed from
	// memory).
	ConfigPath string
	// Mechanisms are what the backend chose after probing the kernel.
	Mechanisms supervisor.Mechanisms
	// TimeoutViolations counts class deadlines exhausted before a hook
	// and hook timeouts, since start.
	TimeoutViolations uint64
	// Hooks lists every hook of the config in file order.
	Hooks []HookStatus
}

// HookStatus reports one hook.
type HookStatus struct {
	Name      string
	Event     string
	Mode      config.Mode
	Priority  int32
	Enabled   bool
	Namespace string
	// FailMode is the mode the chain applies ([enforce] may force closed).
	FailMode config.FailMode
	Metrics  MetricsSnapshot
	// State is the live state of the hook's executor; zero but for Mode
	// before its first fire.
	State HookState
}

// Status reports the config, the backend's mechanisms and every hook's
// metrics and live state.
func (d *Dispatcher) Status() Status {
	g := d.cur.Load()
	cfg := g.cfg
	st := Status{
		ConfigPath:        cfg.Path,
		Mechanisms:        d.backend.Mechanisms(),
		TimeoutViolations: d.violations.Load(),
		Hooks:             make([]HookStatus, 0, len(cfg.Hooks)),
	}
	for _, h := range cfg.Hooks {
		mode := h.Mode
		if c, ok := g.chains[h.Event]; mode == "" && ok && c.event.DefaultMode != "" {
			mode = c.event.DefaultMode
		}
		if mode == "" {
			mode = config.ModeExec
		}
		hs := HookStatus{Name: h.Name, Event: h.Event, Mode: mode, Priority: h.Priority, Enabled: h.Enabled,
			Namespace: h.Namespace, FailMode: g.gate.failMode(&h), Metrics: d.metricsFor(h.Name).Snapshot(), State: HookState{Mode: mode}}
		if s, ok := d.registry.State(h.Name); ok {
			hs.State = s
		}
		st.Hooks = append(st.Hooks, hs)
	}
	return st
}

// Close refuses new fires (ErrClosed), waits for fires in flight until
// ctx ends, then stops every hook child and, if New created the backend,
// closes it. Children are stopped even when ctx has ended; the error then
// includes ctx.Err(). Calling Close again returns nil.
func (d *Dispatcher) Close(ctx context.Context) error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
wait:
	for d.inflight.Load() > 0 {
		select {
		case <-d.idle:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("executor: fires still in flight: %w", ctx.Err()))
			break wait
		}
	}
	d.bgCancel()
	// A Reload that got past its closed check holds reloadMu until its
	// drain goroutine is counted, so taking the lock fences it before Wait.
	// The draining generations are forgotten: everything stops below.
	d.reloadMu.Lock()
	clear(d.retiring)
	d.reloadMu.Unlock()
	d.bg.Wait()
	if err := d.registry.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if d.ownBackend {
		if err := d.backend.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
