// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// defaultName is the subtree's directory name. It is stable so that a
	// restarted instance finds (and removes) what a crashed one left.
	defaultName = "hooksupd"
	// leafName is the leaf this process moves into on a delegated v2
	// cgroup (systemd's DelegateSubgroup= uses the same name).
	leafName = "supervisor"
)

// legacyForTest makes Open ignore the unified tree of a hybrid host, so
// that the tests exercise the pure v1 paths there too.
var legacyForTest bool

// errClosed is returned by a closed Manager.
var errClosed = errors.New("cgroup: manager closed")

// hier is one hierarchy (mounted cgroup tree) the subtree lives in.
type hier struct {
	name  string   // "v2", "unified" (hybrid) or the v1 controllers it binds ("memory", "cpu,cpuacct")
	ctrls []string // v1 controllers bound to it
	v2    bool     // a cgroup2 tree: pure v2, or the unified tree of a hybrid host
	mount string   // mount point
	mroot string   // the hierarchy's cgroup shown at the mount point ("/" but in some containers)
	base  string   // the subtree's parent, relative to the mount ("/" form)
	root  string   // absolute path of the subtree root
	lock  int      // fd of root, flock'ed while the Manager is open; -1
}

func (h *hier) has(ctrl string) bool { return hasOpt(h.ctrls, ctrl) }

// Manager owns one subtree of groups: it creates groups there, and on Open
// and Close kills and removes whatever is left in it. Its methods are safe
// for concurrent use.
type Manager struct {
	mode    Mode
	name    string            // the subtree's directory name in use
	hs      []*hier           // every hierarchy the subtree lives in
	unified *hier             // the cgroup2 tree (v2 or hybrid); nil on v1
	v1      map[string]*hier  // v1 controller -> hierarchy
	missing map[string]string // controller -> why limits on it cannot be enforced
	kill    killMech
	created []string // Parent directories Open created, removed by Close

	mu     sync.Mutex
	seq    uint64
	groups map[*Group]struct{}
	pools  map[*Pool]struct{}
	closed bool
}

// Open finds or creates the subtree and kills and removes whatever a
// previous instance left in it.
//
// Where the subtree goes: below Options.Parent when set; else, per
// hierarchy, below the cgroup this process is in. On a pure v2 host whose
// cgroup is delegated to this process (systemd Delegate=yes) and holds no
// other process, Open first moves this process into a "supervisor" leaf so
// that the delegated cgroup may hand its controllers to the subtree beside
// it (the no-internal-processes rule).
//
// The subtree is flock'ed while the Manager is open. When another live
// instance holds "<Name>", Open uses "<Name>-<pid>" instead ("<Name>-<pid>-<n>"
// for further Managers of one process), and it removes such subtrees of
// instances that are gone; a live instance's subtree is never touched.
func Open(opts Options) (*Manager, error) {
	name := opts.Name
	if name == "" {
		name = defaultName
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	mode := DetectMode()
	if mode == Hybrid && legacyForTest {
		mode = Legacy
	}
	if mode == Unavailable {
		return nil, fmt.Errorf("cgroup: no cgroup filesystem mounted at /sys/fs/cgroup: %w", ErrNotSupported)
	}
	lay, err := discover(mode)
	if err != nil {
		return nil, err
	}
	parent := ""
	if opts.Parent != "" {
		parent = path.Clean("/" + opts.Parent)
	}
	m := &Manager{
		mode:    mode,
		v1:      map[string]*hier{},
		missing: map[string]string{},
		groups:  map[*Group]struct{}{},
		pools:   map[*Pool]struct{}{},
	}
	if err := m.place(lay, parent); err != nil {
		m.release()
		return nil, err
	}
	if err := m.claim(name); err != nil {
		m.release()
		return nil, err
	}
	if err := m.checkOutside(); err != nil {
		m.release()
		return nil, err
	}
	m.kill = m.probeKill()
	m.sweepStale(name)
	if m.unified != nil && m.mode == Unified {
		m.probeV2Controllers()
	}
	return m, nil
}

// place decides each hierarchy's base (the subtree's parent).
func (m *Manager) place(lay *layout, parent string) error {
	if lay.unified != nil {
		h := &hier{name: "unified", v2: true, mount: lay.unified.point, mroot: lay.unified.root, base: lay.unifiedOwn, lock: -1}
		if m.mode == Unified {
			h.name = "v2"
		}
		switch {
		case parent != "":
			h.base = parent
			if err := m.ensureParent(h); err != nil {
				return err
			}
		case m.mode == Unified:
			base, why, err := v2Base(h.mount, lay.unifiedOwn)
			if err != nil {
				return err
			}
			h.base = base
			if why != "" {
				for _, c := range []string{"memory", "cpu", "pids"} {
					m.missing[c] = why
				}
			}
		}
		m.unified = h
		m.hs = append(m.hs, h)
	}
	byMount := map[string]*hier{}
	for _, c := range v1Controllers {
		mnt := lay.v1[c]
		if mnt == nil {
			if m.mode != Unified {
				m.missing[c] = fmt.Sprintf("cgroup v1 %s controller not mounted", c)
			}
			continue
		}
		h := byMount[mnt.point]
		if h == nil {
			h = &hier{name: c, mount: mnt.point, mroot: mnt.root, base: lay.v1Own[c], lock: -1}
			if parent != "" {
				h.base = parent
				if err := m.ensureParent(h); err != nil {
					return err
				}
			}
			byMount[mnt.point] = h
			m.hs = append(m.hs, h)
		} else {
			h.name += "," + c
		}
		h.ctrls = append(h.ctrls, c)
		m.v1[c] = h
	}
	return nil
}

// claim creates and locks the subtree root in every hierarchy: "<name>",
// or "<name>-<pid>" while another live instance holds "<name>" (then
// "<name>-<pid>-<n>" for more Managers of this process).
func (m *Manager) claim(name string) error {
	cands := []string{name}
	for i := range 16 {
		c := name + "-" + strconv.Itoa(os.Getpid())
		if i > 0 {
			c += "-" + strconv.Itoa(i)
		}
		cands = append(cands, c)
	}
	for attempt := 0; ; attempt++ {
		for _, c := range cands {
			ok, err := m.tryClaim(c)
			if err != nil {
				return err
			}
			if ok {
				m.name = c
				return nil
			}
		}
		if attempt >= 20 {
			return fmt.Errorf("cgroup: subtree %q is held by another live instance", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Manager) tryClaim(name string) (bool, error) {
	var kept []*hier
	var made []string
	fail := func() {
		m.unlockAll()
		for i := len(made) - 1; i >= 0; i-- {
			_ = sysRmdir(made[i]) // ours, and empty: do not leave it behind
		}
	}
	for _, h := range m.hs {
		h.root = filepath.Join(h.mount, h.base, name)
		err := sysMkdir(h.root)
		if err == nil {
			made = append(made, h.root)
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			if !h.v2 && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)) {
				// An unusable v1 hierarchy: go on without it.
				for _, c := range h.ctrls {
					m.missing[c] = fmt.Sprintf("cgroup v1 %s hierarchy not writable at %s: %v", c, filepath.Dir(h.root), err)
					delete(m.v1, c)
				}
				continue
			}
			fail()
			return false, fileErr("mkdir", h.root, err)
		}
		fd, err := lockDir(h.root)
		if err != nil {
			fail()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return false, nil
			}
			return false, err
		}
		h.lock = fd
		kept = append(kept, h)
	}
	m.hs = kept
	return true, nil
}

// checkOutside refuses a subtree that holds this process (a Parent and
// Name pointing at our own cgroup): sweeping it would kill us.
func (m *Manager) checkOutside() error {
	lay, err := discover(m.mode)
	if err != nil {
		return err
	}
	for _, h := range m.hs {
		own := lay.unifiedOwn
		if !h.v2 {
			own = lay.v1Own[h.ctrls[0]]
		}
		root := path.Join(h.base, m.name)
		if own == root || strings.HasPrefix(own, root+"/") {
			return fmt.Errorf("cgroup: subtree %s:%s holds this process; choose another name or parent", h.name, root)
		}
	}
	return nil
}

// lockDir opens dir and takes an exclusive flock on it without blocking.
// It fails with EWOULDBLOCK when another process holds it, or when dir was
// replaced meanwhile (removed by the instance that sweeps stale subtrees).
func lockDir(dir string) (int, error) {
	fd, err := sysOpen(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return -1, unix.EWOULDBLOCK // just removed by a sweeping instance
	}
	if err != nil {
		return -1, fileErr("open", dir, err)
	}
	if err := sysFlock(fd, unix.LOCK_EX|unix.LOCK_NB, dir); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, unix.EWOULDBLOCK
		}
		return -1, fileErr("flock", dir, err)
	}
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(dir, &b) != nil || a.Ino != b.Ino || a.Dev != b.Dev {
		unix.Close(fd)
		return -1, unix.EWOULDBLOCK
	}
	return fd, nil
}

func (m *Manager) unlockAll() {
	for _, h := range m.hs {
		if h.lock >= 0 {
			unix.Close(h.lock)
			h.lock = -1
		}
	}
}

// release undoes a failed Open.
func (m *Manager) release() {
	m.unlockAll()
	for i := len(m.created) - 1; i >= 0; i-- {
		_ = sysRmdir(m.created[i])
	}
}

// roots returns the subtree roots as directories to sweep.
func (m *Manager) roots(name string) []cgdir {
	var ds []cgdir
	for _, h := range m.hs {
		ds = append(ds, cgdir{h: h, path: filepath.Join(h.mount, h.base, name)})
	}
	return ds
}

// staleName matches the "<name>-<pid>" and "<name>-<pid>-<n>" subtrees
// of other instances.
func staleName(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `-[0-9]+(-[0-9]+)?$`)
}

// sweepStale kills and removes what previous instances left: every group
// below our own root, and the whole "<name>-<pid>" subtrees nobody holds.
func (m *Manager) sweepStale(name string) {
	found := m.sweep(m.roots(m.name), false)
	re := staleName(name)
	sibs := map[string]bool{}
	for _, h := range m.hs {
		ents, _ := os.ReadDir(filepath.Join(h.mount, h.base))
		for _, e := range ents {
			if e.IsDir() && e.Name() != m.name && re.MatchString(e.Name()) {
				sibs[e.Name()] = true
			}
		}
	}
	for sib := range sibs {
		var locked []int
		var ds []cgdir
		busy := false
		for _, d := range m.roots(sib) {
			if !exists(d.path) {
				continue
			}
			fd, err := lockDir(d.path)
			if err != nil {
				busy = true
				break
			}
			locked = append(locked, fd)
			ds = append(ds, d)
		}
		if !busy {
			found += m.sweep(ds, true)
		}
		for _, fd := range locked {
			unix.Close(fd)
		}
	}
	if found > 0 {
		slog.Info("cgroup: removed groups left by a previous instance", "subtree", m.Path(), "groups", found)
	}
}

// sweep kills every process below the given roots, waits for them to be
// gone, and removes every cgroup below them (and the roots themselves when
// removeRoots). It returns how many cgroups it removed.
func (m *Manager) sweep(roots []cgdir, removeRoots bool) int {
	var all []cgdir
	for _, r := range roots {
		if exists(r.path) {
			all = append(all, r)
		}
	}
	if len(treePidsOf(all)) > 0 {
		_ = m.killDirs(all, true)
		ctx, cancel := contextTimeout(sweepWait)
		_ = pollUntil(ctx, func() (bool, error) { return len(treePidsOf(all)) == 0, nil })
		cancel()
	}
	n := 0
	for _, r := range all {
		for _, d := range subdirs(r.path) {
			if d == r.path && !removeRoots {
				continue
			}
			if _, err := m.rmdirRetry(d); err == nil && d != r.path {
				n++
			}
		}
	}
	return n
}

// treePidsOf lists, once each, the processes in ds and below (a process
// shows in every hierarchy it was placed in).
func treePidsOf(ds []cgdir) []int {
	var pids []int
	for _, d := range ds {
		pids = append(pids, treePids(d.path)...)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// Mode reports the host's cgroup layout.
func (m *Manager) Mode() Mode { return m.mode }

// Path describes where the subtree is: the directory on v2, else
// "hierarchy:path" per hierarchy, as in /proc/self/cgroup.
func (m *Manager) Path() string {
	if m.mode == Unified && m.unified != nil {
		return m.unified.root
	}
	var parts []string
	for _, h := range m.hs {
		parts = append(parts, h.name+":"+path.Join(h.base, m.name))
	}
	return strings.Join(parts, " ")
}

// CanEnforce returns nil when groups can enforce l, else an error wrapping
// ErrNotSupported that names every missing controller and why.
func (m *Manager) CanEnforce(l Limits) error {
	var errs []error
	for _, c := range []struct {
		ctrl string
		set  bool
	}{{"memory", l.MemoryMax > 0 || l.MemoryHigh > 0}, {"cpu", l.CPUQuota > 0 || l.CPUWeight > 0}, {"pids", l.PidsMax > 0}} {
		if why := m.missing[c.ctrl]; c.set && why != "" {
			errs = append(errs, fmt.Errorf("%s: %w", why, ErrNotSupported))
		}
	}
	errs = append(errs, m.canEnforceWeights(l)...)
	return errors.Join(errs...)
}

// KillMechanism names how Kill kills a group: "cgroup.kill",
// "freeze+kill+thaw" or "kill each pid".
func (m *Manager) KillMechanism() string { return m.kill.String() }

// Close deletes every group and pool of the Manager, kills and removes
// whatever else is left in the subtree, and removes the subtree.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var pools []*Pool
	for p := range m.pools {
		pools = append(pools, p)
	}
	var groups []*Group
	for g := range m.groups {
		groups = append(groups, g)
	}
	m.mu.Unlock()
	var errs []error
	for _, p := range pools {
		errs = append(errs, p.Close())
	}
	for _, g := range groups {
		errs = append(errs, g.Delete())
	}
	m.sweep(m.roots(m.name), true)
	for _, r := range m.roots(m.name) {
		if exists(r.path) {
			errs = append(errs, fmt.Errorf("cgroup: could not remove %s", r.path))
		}
	}
	m.release()
	return errors.Join(errs...)
}

func (m *Manager) untrack(g *Group) {
	m.mu.Lock()
	delete(m.groups, g)
	m.mu.Unlock()
}

// validName checks that a name is usable as one cgroup directory name.
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("cgroup: invalid name %q", name)
	case len(name) > 128:
		return fmt.Errorf("cgroup: name %q longer than 128 bytes", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("cgroup: name %q starts with a dot", name)
	case strings.ContainsAny(name, "/\x00\n"):
		return fmt.Errorf("cgroup: name %q is not a single path element", name)
	}
	return nil
}
