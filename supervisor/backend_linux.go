// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/cgroup"
	"github.com/hooksupd/hooksupd/supervisor/internal/launcher"
	"github.com/hooksupd/hooksupd/supervisor/pidfd"
)

// New returns the backend opts.Kind asks for. On Linux, "" and "auto"
// choose the Linux backend and fall back to the portable one only when
// the kernel lacks pidfds (before 5.4); "linux" insists on it.
func New(opts Options) (Backend, error) {
	switch opts.Kind {
	case "", "auto":
		b, err := newLinux(opts, linuxConfig{})
		if errors.Is(err, ErrNotSupported) {
			logger(opts.Logger).Warn("linux backend unavailable, using the portable one", "err", err)
			return NewPortable(opts)
		}
		return b, err
	case "linux":
		return newLinux(opts, linuxConfig{})
	case "portable":
		return NewPortable(opts)
	}
	return nil, fmt.Errorf("supervisor: unknown backend kind %q", opts.Kind)
}

// linuxConfig holds the knobs tests and benchmarks turn; the zero value is
// production.
type linuxConfig struct {
	subtree  string        // cgroup subtree name; "" means "hooksupd"
	direct   bool          // never use launchers (spawn the hook directly)
	idle     time.Duration // idle launcher pools are trimmed after this; 0 means 60s
	trimTick time.Duration // how often pools are checked; 0 means 10s
	noCgroup bool          // run without groups (measurements)
	hostPIDs bool          // no keeper: hooks are born in the supervisor's PID namespace
	// noNamespaces plans sandboxes as an unprivileged supervisor must
	// (Landlock instead of mounts; tests of that path as root).
	noNamespaces bool
	// groupFault, when set, is called before each group is taken from a
	// pool; an error it returns stands in for a failure to create one.
	groupFault func() error
}

// linuxBackend spawns every child from one locked OS thread, into its
// group before it runs, observes exits through pidfds in one epoll set and
// hands out non-blocking pipes for the caller's epoll loop.
//
// Race-free placement without a placement on the fire's path: for each
// pool key (name, limits, credentials) it keeps pre-placed launchers
// (internal/launcher), tiny static processes cloned into the key's next
// group (clone3 CLONE_INTO_CGROUP where there is a cgroup2 directory, v1
// hierarchies by a cgroup.procs write in the background) and parked on a
// control pipe. A fire sends one exec request; the launcher applies the
// rlimits, closes every fd above 2 and execs the hook with its pid, groups
// and pipes. Uncapped specs get a group too (tracking, tree kill).
//
// Where there is no launcher (no blob for the architecture, or the probe
// failed) hooks are spawned directly: on a v2-only host clone3 still puts
// them in their group first; elsewhere a child can run briefly outside its
// v1 groups, so capped specs fail with ErrNotSupported unless they allow
// running uncapped (and then are placed right after the start).
type linuxBackend struct {
	log     Logger
	cfg     linuxConfig
	cg      *cgroup.Manager // nil when cgroups are unusable
	cgErr   error           // why cg is nil
	exe     *launcher.Exe   // nil: spawn directly
	exeNote string          // why exe is nil
	spawn   *spawner
	watch   *pidfd.Watcher
	keeper  *keeper       // the hook PID namespace (see pidns_linux.go)
	kexe    *launcher.Exe // the launcher binary, for the keeper; nil without a blob
	// hidden are Options.HiddenPaths; procErr says why hooks in a mount
	// namespace cannot get a hidepid /proc (nil: they do). See
	// reach_linux.go.
	hidden  []string
	procErr error

	// clone3 is cleared once clone3 CLONE_INTO_CGROUP was refused
	// (ENOSYS, EPERM, E2BIG, EOPNOTSUPP) and a plain clone worked.
	clone3 atomic.Bool

	parked atomic.Int64 // launchers parked or being prepared, all pools

	bgMu      sync.Mutex
	bgStopped bool           // no new background work
	bg        sync.WaitGroup // launcher preparations and the trimmer
	recycles  sync.WaitGroup // groups on their way back to their pools
	starts    sync.WaitGroup // Starts in flight
	stopTrim  chan struct{}

	mu     sync.Mutex
	closed bool
	procs  map[*linuxProcess]struct{}
	pools  map[poolKey]*launcherPool
}

func newLinux(opts Options, cfg linuxConfig) (*linuxBackend, error) {
	if err := pidfd.Probe(); err != nil {
		return nil, notSupported(fmt.Errorf("linux backend: %w", err))
	}
	if cfg.subtree == "" {
		cfg.subtree = "hooksupd"
	}
	if cfg.idle <= 0 {
		cfg.idle = 60 * time.Second
	}
	if cfg.trimTick <= 0 {
		cfg.trimTick = 10 * time.Second
	}
	b := &linuxBackend{
		log:      logger(opts.Logger),
		cfg:      cfg,
		stopTrim: make(chan struct{}),
		procs:    make(map[*linuxProcess]struct{}),
		pools:    make(map[poolKey]*launcherPool),
		keeper:   &keeper{life: -1},
	}
	b.clone3.Store(true)

	var err error
	if b.hidden, err = checkHiddenPaths(opts.HiddenPaths); err != nil {
		return nil, err
	}
	b.procErr = errors.New("no mount namespaces")
	if privileged() && !cfg.noNamespaces {
		b.procErr = probeHiddenProc()
	}
	if b.spawn, err = newSpawner(); err != nil {
		return nil, err
	}
	if b.watch, err = pidfd.NewWatcher(); err != nil {
		b.spawn.stop()
		return nil, fmt.Errorf("linux backend: %w", err)
	}
	// Open removes whatever a previous instance left in the subtree
	// (crash safety): it kills the stale trees first.
	if cfg.noCgroup {
		b.cgErr = errors.New("disabled")
	} else if b.cg, b.cgErr = cgroup.Open(cgroup.Options{Name: cfg.subtree, Parent: opts.CgroupParent}); b.cgErr != nil {
		b.cg = nil
		b.log.Warn("cgroups unavailable: limits cannot be enforced", "err", b.cgErr)
	}
	// The keeper is started only now: under systemd delegation Open has
	// moved this process into its "supervisor" leaf, and a keeper started
	// before would be left behind in the delegated cgroup, which must hold
	// no process for its controllers to reach the hooks' groups.
	b.openKeeper()
	switch {
	case cfg.direct:
		b.exeNote = "launchers disabled"
	case launcher.Blob() == nil:
		b.exeNote = "no launcher for this architecture"
	default:
		b.exe, err = launcher.Load()
		if err == nil {
			err = b.probeLauncher()
		}
		if err != nil {
			if b.exe != nil {
				b.exe.Close()
				b.exe = nil
			}
			b.exeNote = err.Error()
			b.log.Warn("launcher unavailable, spawning hooks directly", "err", err)
		}
	}
	b.bg.Go(b.trimmer)
	return b, nil
}

// probeLauncher starts one launcher without a group and stops it, so that
// a host that refuses to exec it (an LSM policy, memfd_noexec, no /proc)
// falls back to direct spawn at start instead of failing every fire.
func (b *linuxBackend) probeLauncher() error {
	var ctl, st [2]int
	if err := unix.Pipe2(ctl[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	if err := unix.Pipe2(st[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ctl[0])
		unix.Close(ctl[1])
		return err
	}
	defer unix.Close(st[0])
	null, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(ctl[0])
		unix.Close(ctl[1])
		unix.Close(st[1])
		return err
	}
	exe, files := b.exe.Attach([]uintptr{null.Fd(), null.Fd(), null.Fd(), uintptr(ctl[0]), uintptr(st[1])})
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Files: files,
		Sys:   &syscall.SysProcAttr{},
	}
	_, pfd, _, err := b.clone(exe, launcher.Argv(0), attr, nil)
	null.Close()
	unix.Close(ctl[0])
	unix.Close(st[1])
	if err != nil {
		unix.Close(ctl[1])
		return fmt.Errorf("launcher probe: %w", err)
	}
	defer pfd.Close()
	var ready [1]byte
	n, rerr := readFull(st[0], ready[:])
	unix.Close(ctl[1]) // EOF: a parked launcher exits 0
	ws, werr := pfd.Wait()
	switch {
	case n != 1 || ready[0] != launcher.Ready:
		return fmt.Errorf("launcher probe: no ready byte: %v", rerr)
	case werr != nil:
		return fmt.Errorf("launcher probe: %w", werr)
	case ws.Code != 0:
		return fmt.Errorf("launcher probe: exit status %d, signal %d", ws.Code, ws.Signal)
	}
	return nil
}

// Mechanisms reports what was chosen after probing.
func (b *linuxBackend) Mechanisms() Mechanisms {
	m := Mechanisms{
		Backend:    "linux",
		CgroupMode: "none",
		Exit:       "pidfd+epoll",
		Pipes:      "epoll",
		Kill:       "process group",
		Attach:     "none",
		Notes:      []string{"spawned from one locked OS thread: no_new_privs, Pdeathsig SIGKILL", b.pidNSNote(), b.sandboxNote()},
	}
	clone3 := b.clone3.Load()
	if b.exe != nil {
		m.Spawn = "pre-placed launcher (static, no libc, sealed memfd), clone pidfd"
	} else {
		m.Spawn = "clone3+pidfd"
		m.Notes = append(m.Notes, "direct spawn: "+b.exeNote)
	}
	if b.cg == nil {
		m.Notes = append(m.Notes, "cgroups unavailable: "+b.cgErr.Error())
		return m
	}
	mode := b.cg.Mode()
	m.CgroupMode = mode.String()
	m.Kill = b.cg.KillMechanism()
	into := "clone3 CLONE_INTO_CGROUP"
	if !clone3 {
		into = "cgroup.procs write (clone3 CLONE_INTO_CGROUP refused)"
	}
	switch {
	case b.exe != nil && mode == cgroup.Unified:
		m.Attach = "pre-placed launcher, " + into
	case b.exe != nil && mode == cgroup.Hybrid:
		m.Attach = "pre-placed launcher: v1 placed in the background, " + into + " into the unified group"
	case b.exe != nil:
		m.Attach = "pre-placed launcher: placed in the background"
	case mode == cgroup.Unified && clone3:
		m.Attach = into
	default:
		m.Attach = "cgroup.procs write after start (not race-free: capped specs need AllowUncapped)"
	}
	return m
}

// CanEnforce reports whether l can be enforced here.
func (b *linuxBackend) CanEnforce(l Limits) error {
	if !l.NeedsGroup() {
		return nil // RLIMIT_NOFILE is set by the launcher or prlimit
	}
	if b.cg == nil {
		return notSupported(fmt.Errorf("linux backend cannot enforce %s: cgroups unavailable: %w", limitNames(l), b.cgErr))
	}
	if err := b.cg.CanEnforce(groupLimits(l)); err != nil {
		return notSupported(fmt.Errorf("linux backend: %w", err))
	}
	if !b.raceFree() {
		return notSupported(fmt.Errorf("linux backend cannot enforce %s from the first instruction: %s and cgroup %s needs a launcher",
			limitNames(l), b.exeNote, b.cg.Mode()))
	}
	return nil
}

// raceFree reports whether a child can be in its group before it runs:
// always with a launcher, and through clone3 on a v2-only host.
func (b *linuxBackend) raceFree() bool {
	return b.exe != nil || (b.cg != nil && b.cg.Mode() == cgroup.Unified && b.clone3.Load())
}

// Close kills every supervised process, stops the parked launchers and
// removes the subtree.
func (b *linuxBackend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	pools := make([]*launcherPool, 0, len(b.pools))
	for _, pl := range b.pools {
		pools = append(pools, pl)
	}
	b.mu.Unlock()
	b.bgMu.Lock()
	b.bgStopped = true
	b.bgMu.Unlock()
	close(b.stopTrim)
	for _, pl := range pools {
		pl.drain() // wakes Starts waiting for a launcher
	}
	b.starts.Wait() // a Start that got through sees closed and releases
	b.bg.Wait()     // preparations in flight see closed and undo themselves

	b.mu.Lock()
	procs := make([]*linuxProcess, 0, len(b.procs))
	for p := range b.procs {
		procs = append(procs, p)
	}
	b.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Release(); err != nil {
			errs = append(errs, err)
		}
	}
	b.recycles.Wait()
	for _, pl := range pools {
		if err := pl.closeGroups(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.watch.Close(); err != nil {
		errs = append(errs, err)
	}
	b.stopKeeper()
	b.spawn.stop()
	if b.exe != nil {
		b.exe.Close()
	}
	if b.kexe != nil {
		b.kexe.Close()
	}
	if b.cg != nil {
		if err := b.cg.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// beginStart registers a Start in flight, unless the backend is closing.
func (b *linuxBackend) beginStart() bool {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.bgStopped {
		return false
	}
	b.starts.Add(1)
	return true
}

// trimmer shrinks pools that fire rarely and stops pools nobody used for
// cfg.idle, so parked launchers do not live forever.
func (b *linuxBackend) trimmer() {
	t := time.NewTicker(b.cfg.trimTick)
	defer t.Stop()
	for {
		select {
		case <-b.stopTrim:
			return
		case now := <-t.C:
			b.mu.Lock()
			pools := make([]*launcherPool, 0, len(b.pools))
			for _, pl := range b.pools {
				pools = append(pools, pl)
			}
			b.mu.Unlock()
			for _, pl := range pools {
				if pl.trim(now, b.cfg.idle) {
					pl.closeGroups()
				}
			}
		}
	}
}

// groupLimits converts the limits a group enforces.
func groupLimits(l Limits) cgroup.Limits {
	return cgroup.Limits{MemoryMax: l.MemoryMax, CPUQuota: l.CPUQuota, CPUPeriod: l.CPUPeriod, PidsMax: l.PidsMax,
		MemoryHigh: l.MemoryHigh, CPUWeight: l.CPUWeight}
}

func limitNames(l Limits) string {
	var names []string
	if l.MemoryMax > 0 {
		names = append(names, "memory_max")
	}
	if l.CPUQuota > 0 {
		names = append(names, "cpu_max")
	}
	if l.PidsMax > 0 {
		names = append(names, "pids_max")
	}
	if l.MemoryHigh > 0 {
		names = append(names, "memory_high")
	}
	if l.CPUWeight > 0 {
		names = append(names, "cpu_weight")
	}
	return strings.Join(names, ", ")
}

// notSupportedError marks a cause that does not wrap ErrNotSupported (an
// errno from the kernel, say) as one, keeping the cause matchable too.
type notSupportedError struct{ err error }

func (e *notSupportedError) Error() string   { return e.err.Error() }
func (e *notSupportedError) Unwrap() []error { return []error{ErrNotSupported, e.err} }

func notSupported(err error) error {
	if errors.Is(err, ErrNotSupported) {
		return err
	}
	return &notSupportedError{err}
}

// logger returns l, or one that discards everything.
func logger(l Logger) Logger {
	if l == nil {
		return nopLogger{}
	}
	return l
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}
