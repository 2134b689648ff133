// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

// Pitfalls of docs/pitfalls.md pinned on every backend (portable and Linux);
// the Linux-only ones are in pitfalls_linux_test.go and
// pitfalls_seccomp_linux_test.go. README.md maps each pitfall to its tests.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
)

// TestPitfall02OutputReadBeforeExit: a hook that writes a 900 KiB decision
// line and exits at once loses nothing (the reads finish before the exit
// is acted on: golang/go#19685), and a daemon's 512 KiB reply line arrives
// whole while the child keeps running.
func TestPitfall02OutputReadBeforeExit(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		payload := `{"content":"` + strings.Repeat("y", 900<<10) + `"}`
		var echoed json.RawMessage
		metadata(t, s.mustFire(s.hook("big", "echo-payload"), payload), &echoed)
		if string(echoed) != payload {
			t.Errorf("echoed %d bytes, want the %d-byte payload", len(echoed), len(payload))
		}
		d, _, err := s.fire(s.daemonHook("bigd"), 5*time.Second, `{"pad":524288}`)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Pad string }
		metadata(t, d, &r)
		if len(r.Pad) != 524288 {
			t.Errorf("daemon reply pad of %d bytes, want 524288", len(r.Pad))
		}
	})
}

// TestPitfall17ExecWhileWriterOpen: a hook file still open for writing
// makes execve fail with ETXTBSY (golang/go#22315). The spawn retry ladder
// either gets through once the writer closes, or reports ErrSpawn naming
// ETXTBSY when it does not; it never hangs.
func TestPitfall17ExecWhileWriterOpen(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		data, err := os.ReadFile(s.bin)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		write := func(name string) (*config.Hook, *os.File) {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				t.Fatal(err)
			}
			h := s.hook(name, "allow")
			h.Command = f.Name()
			return h, f
		}
		h, f := write("busy")
		_, elapsed, err := s.fire(h, 5*time.Second, `{}`)
		f.Close()
		if !errors.Is(err, executor.ErrSpawn) || !errors.Is(err, syscall.ETXTBSY) {
			t.Errorf("exec while a writer holds the file: %v, want ErrSpawn with ETXTBSY", err)
		}
		if elapsed > 3*time.Second {
			t.Errorf("the ladder took %v (about 1.26 s of sleeps)", elapsed)
		}

		h, f = write("late")
		go func() {
			time.Sleep(150 * time.Millisecond)
			f.Close()
		}()
		d, _, err := s.fire(h, 5*time.Second, `{}`)
		if err != nil || d.Action != executor.ActionAllow {
			t.Errorf("writer closed during the ladder: %+v %v", d, err)
		}
		if !strings.Contains(s.log.String(), "transient spawn errno") {
			t.Errorf("the first spawn did not meet ETXTBSY: the ladder was not exercised")
		}
	})
}

// TestPitfall18ConcurrentStarts: 16 concurrent fires complete while this
// process also forks through os/exec (ForkLock contention: golang/go#23558).
func TestPitfall18ConcurrentStarts(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		ex, err := s.reg.Executor(s.hook("par", "sleep", "200"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := time.Now()
		for i := range 16 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if d, err := ex.Fire(ctx, testEvent, json.RawMessage(`{}`)); err != nil || d.Action != executor.ActionAllow {
					t.Errorf("fire %d: %+v %v", i, d, err)
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				for range 5 {
					cmd := exec.Command(s.bin, "allow")
					if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "allow") {
						t.Errorf("os/exec beside the fires: %q %v", out, err)
					}
				}
			})
		}
		wg.Wait()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("16 concurrent fires took %v", d)
		}
	})
}
