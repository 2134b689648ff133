// SPDX-License-Identifier: Apache-2.0

package test

// Lifecycle acceptance criterion: 1000 fires of a forking hook leave no
// zombie, fd, pidfd or group (acceptance_crash_linux_test.go has the
// SIGKILLed supervisor).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

// TestAccept1000ForkingFires: 1000 fires of a capped hook that forks a
// sleeping child and exits leave no zombie, no hook process, no fd and no
// pidfd behind (pitfalls 5 and 6), and no group once the backend is closed
// (docs/pitfalls.md #9). A canary checks meanwhile that no descriptor of this
// process is closed by someone who does not own it (a double close).
func TestAccept1000ForkingFires(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 fires")
	}
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	bin := testhook.Path(t)
	prefix := fmt.Sprintf("a%d", os.Getpid())
	pidfds := countFDs("anon_inode:[pidfd]")
	b := linuxBackend(t, nil)
	d := newDispatcher(t, b, linuxTOML(bin, fmt.Sprintf(`name = "%s-probe"
event = "pre_delete"
timeout_ms = 5000
args = ["cgroups"]
limits.memory_max = "128M"
limits.pids_max = 32`, prefix), fmt.Sprintf(`name = "%s-forker"
event = "pre_store"
timeout_ms = 5000
args = ["forker", "1"]
limits.memory_max = "128M"
limits.pids_max = 32`, prefix)), &logBuf{})
	res, _ := dfire(t, d, "pre_delete", `{}`, 10*time.Second)
	var probe struct{ Cgroup string }
	resultMeta(t, res, &probe)
	roots := subtreeRoots(groupDirs(t, probe.Cgroup))

	can := startCanary()
	const fires, workers = 1000, 4
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		fails []string
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= fires {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := d.Fire(ctx, "pre_store", nil, json.RawMessage(`{}`))
				cancel()
				var m struct{ Children []int }
				if err == nil && res.Decision == executor.ActionModify {
					err = json.Unmarshal(res.Delta["metadata"], &m)
				}
				if err != nil || len(m.Children) != 1 {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%+v %v", res, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	iters, bad := can.stop()
	t.Logf("%d fires in %v; canary: %d checks", fires, time.Since(start), iters)
	if len(fails) > 0 {
		t.Fatalf("%d of %d fires failed, first: %s", len(fails), fires, fails[0])
	}
	if bad != "" {
		t.Errorf("canary: a descriptor of this process was closed or replaced under it: %s", bad)
	}
	noHookProcsLeft(t, bin, 5*time.Second)
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombie children of the supervisor: %v", z)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("dispatcher Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("backend Close: %v", err)
	}
	if n := countFDs("anon_inode:[pidfd]"); n != pidfds {
		t.Errorf("%d pidfds open after Close, %d before", n, pidfds)
	}
	for _, pid := range childrenOf(os.Getpid()) {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		if strings.Contains(exe, "hooksupd-launcher") || exe == bin {
			t.Errorf("child %d (%s) left after Close", pid, exe)
		}
	}
	noGroupsLeft(t, roots, prefix, 2*time.Second)
}

// canary repeatedly opens a non-blocking pipe, writes a byte, and checks
// that both ends still are the same files and the byte comes back. A
// descriptor closed by code that does not own it (a double close) and
// reused meanwhile shows up as a mismatch.
type canary struct {
	quit  chan struct{}
	done  chan struct{}
	iters int
	bad   string
}

func startCanary() *canary {
	c := &canary{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.quit:
				return
			default:
			}
			if msg := canaryOnce(); msg != "" && c.bad == "" {
				c.bad = msg
			}
			c.iters++
		}
	}()
	return c
}

func (c *canary) stop() (int, string) {
	close(c.quit)
	<-c.done
	return c.iters, c.bad
}

func canaryOnce() string {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return "" // out of fds for a moment: not what this looks for
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var st [2]unix.Stat_t
	for i := range p {
		if err := unix.Fstat(p[i], &st[i]); err != nil {
			return fmt.Sprintf("fstat fd %d: %v", p[i], err)
		}
	}
	if _, err := unix.Write(p[1], []byte{42}); err != nil {
		return fmt.Sprintf("write fd %d: %v", p[1], err)
	}
	time.Sleep(200 * time.Microsecond)
	var b [1]byte
	if n, err := unix.Read(p[0], b[:]); n != 1 || b[0] != 42 {
		return fmt.Sprintf("read fd %d: %d bytes %v", p[0], n, err)
	}
	for i := range p {
		var now unix.Stat_t
		if err := unix.Fstat(p[i], &now); err != nil || now.Ino != st[i].Ino || now.Dev != st[i].Dev {
			return fmt.Sprintf("fd %d is no longer the canary's pipe (%v)", p[i], err)
		}
	}
	return ""
}
