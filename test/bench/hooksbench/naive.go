// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// naiveLimits are the caps every capped variant asks for, as in the
// baselines: 256 MiB of memory, half a CPU, 64 tasks.
const (
	naiveMemory    = 256 << 20
	naiveCPUQuota  = 50000 // µs per naiveCPUPeriod
	naiveCPUPeriod = 100000
	naivePids      = 64
)

// cgroupSets makes v1 cgroup sets (memory, pids, cpu) for the "naive caps"
// baseline and for cgexec, beneath the cgroups this process is in (one
// base directory per hierarchy, made by this program and removed at exit).
// It never writes to a cgroup it did not create.
type cgroupSets struct {
	mount map[string]string // controller -> absolute dir of this process's cgroup
	base  map[string]string // controller -> our base dir (absolute)
	rel   map[string]string // controller -> base relative to the hierarchy root (for cgexec)
	seq   atomic.Int64

	mu   sync.Mutex
	live map[string]bool // set names not yet removed
}

var cgControllers = []string{"memory", "pids", "cpu"}

// newCgroupSets prepares the base directories; tag keeps two users apart.
func newCgroupSets(tag string) (*cgroupSets, error) {
	own, err := ownV1Cgroups()
	if err != nil {
		return nil, err
	}
	c := &cgroupSets{mount: map[string]string{}, base: map[string]string{}, rel: map[string]string{}, live: map[string]bool{}}
	name := fmt.Sprintf("hooksbench-%d-%s", os.Getpid(), tag)
	for _, ctrl := range cgControllers {
		p, ok := own[ctrl]
		if !ok {
			return nil, fmt.Errorf("no cgroup v1 %s hierarchy (needs a v1 or hybrid host)", ctrl)
		}
		root := filepath.Join("/sys/fs/cgroup", ctrl)
		c.mount[ctrl] = filepath.Join(root, p)
		c.base[ctrl] = filepath.Join(root, p, name)
		c.rel[ctrl] = filepath.Join(p, name)
		if err := os.Mkdir(c.base[ctrl], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			c.close()
			return nil, fmt.Errorf("cgroup base: %w", err)
		}
	}
	atExit(c.close)
	return c, nil
}

// ownV1Cgroups maps each v1 controller to this process's cgroup path.
func ownV1Cgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			out[ctrl] = parts[2]
		}
	}
	for _, ctrl := range cgControllers {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "cgroup.procs")); err != nil {
			delete(out, ctrl)
		}
	}
	return out, s.Err()
}

// make creates one set with the limits and returns its name.
func (c *cgroupSets) make() (string, error) {
	name := "s" + strconv.FormatInt(c.seq.Add(1), 10)
	c.mu.Lock()
	c.live[name] = true
	c.mu.Unlock()
	for _, ctrl := range cgControllers {
		if err := os.Mkdir(filepath.Join(c.base[ctrl], name), 0o755); err != nil {
			c.remove(name)
			return "", err
		}
	}
	writes := [][2]string{
		{"memory", "memory.limit_in_bytes=" + strconv.Itoa(naiveMemory)},
		{"pids", "pids.max=" + strconv.Itoa(naivePids)},
		{"cpu", "cpu.cfs_period_us=" + strconv.Itoa(naiveCPUPeriod)},
		{"cpu", "cpu.cfs_quota_us=" + strconv.Itoa(naiveCPUQuota)},
	}
	for _, w := range writes {
		file, val, _ := strings.Cut(w[1], "=")
		if err := writeCg(filepath.Join(c.base[w[0]], name, file), val); err != nil {
			c.remove(name)
			return "", err
		}
	}
	return name, nil
}

// attach moves pid into every hierarchy of the set (open, write, close, as
// a naive supervisor does).
func (c *cgroupSets) attach(name string, pid int) error {
	s := strconv.Itoa(pid)
	for _, ctrl := range cgControllers {
		if err := writeCg(filepath.Join(c.base[ctrl], name, "cgroup.procs"), s); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes a set (bounded EBUSY retries: an exited task can take a
// moment to leave).
func (c *cgroupSets) remove(name string) error {
	var errs []error
	for _, ctrl := range cgControllers {
		p := filepath.Join(c.base[ctrl], name)
		for i := 0; ; i++ {
			err := unix.Rmdir(p)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if errors.Is(err, unix.EBUSY) && i < 200 {
				time.Sleep(time.Millisecond)
				continue
			}
			errs = append(errs, fmt.Errorf("rmdir %s: %w", p, err))
			break
		}
	}
	c.mu.Lock()
	delete(c.live, name)
	c.mu.Unlock()
	return errors.Join(errs...)
}

// close removes every set still there and the base directories. The
// processes in them are this program's children and are gone by now; a
// leftover one is killed first, by pid.
func (c *cgroupSets) close() {
	c.mu.Lock()
	names := make([]string, 0, len(c.live))
	for n := range c.live {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		for _, ctrl := range cgControllers {
			if b, err := os.ReadFile(filepath.Join(c.base[ctrl], n, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
			}
		}
		_ = c.remove(n)
	}
	for _, ctrl := range cgControllers {
		if c.base[ctrl] != "" {
			_ = unix.Rmdir(c.base[ctrl])
		}
	}
}

func writeCg(path, val string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(val)); err != nil {
		return fmt.Errorf("write %s to %s: %w", val, path, err)
	}
	return nil
}
