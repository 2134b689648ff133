// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/supervisor/cgroup"
)

// TestLinuxSupervisorFailureIsDistinct: a start that fails in the
// supervisor's machinery (here a group that cannot be created, injected
// through the backend's test knob) matches ErrSupervisor beside ErrSpawn,
// on the launcher path (where every fire waiting on the pool gets the
// failure of a background preparation) and the direct one; the next start
// works; a hook's own failure (no such program, not executable) does not
// match ErrSupervisor.
func TestLinuxSupervisorFailureIsDistinct(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := "launcher"
		if direct {
			name = "direct"
		}
		t.Run(name, func(t *testing.T) {
			injected := errors.New("injected group failure")
			// Every group fails until the first Start has failed: a
			// background pool fill racing it must not use up a single
			// injected fault before Start sees one.
			var failing atomic.Bool
			failing.Store(true)
			b := lxNew(t, linuxConfig{direct: direct, groupFault: func() error {
				if failing.Load() {
					return injected
				}
				return nil
			}})
			lxNeedCgroups(t, b)
			if !direct && b.cg.Mode() == cgroup.Unified {
				// On a pure v2 host an uncapped spec is cloned straight into
				// its group; no launcher is prepared, so there is no launcher
				// preparation to fail (the direct case covers the group).
				t.Skip("layout: no launcher preparation on a pure cgroup v2 host")
			}
			// A direct spawn cannot drop a root child's capabilities; this
			// test is about group failures, so the child keeps them.
			var sb Sandbox
			if direct {
				sb.Capabilities = []string{"ALL"}
			}
			spec := lxSh("exit 0")
			spec.Sandbox = sb
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := b.Start(ctx, spec)
			failing.Store(false)
			if err == nil {
				t.Fatal("Start succeeded although its group could not be made")
			}
			for _, want := range []error{ErrSupervisor, ErrSpawn, injected} {
				if !errors.Is(err, want) {
					t.Errorf("Start error %q does not match %q", err, want)
				}
			}
			// A pool preparation begun while groups were failing may still
			// hand its failure to the next Start (the executor retries
			// such failures): the backend must recover within a few.
			var p Process
			for attempt := 0; ; attempt++ {
				if p, err = b.Start(ctx, spec); err == nil {
					break
				}
				if !errors.Is(err, injected) || attempt == 3 {
					t.Fatalf("start %d after the failure: %v", attempt+1, err)
				}
			}
			t.Cleanup(func() {
				_ = p.Release()
				for _, f := range []*os.File{p.Stdin(), p.Stdout(), p.Stderr()} {
					if f != nil {
						f.Close()
					}
				}
			})
			if st := lxWait(t, p, 10*time.Second); !st.Success() {
				t.Errorf("start after the failure: %+v", st)
			}

			dir := t.TempDir()
			plain := filepath.Join(dir, "not-executable")
			if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{filepath.Join(dir, "missing"), plain} {
				_, err := b.Start(ctx, &Spec{Pipes: PipeAll, Name: "t", Path: path, Sandbox: sb})
				if err == nil {
					t.Fatalf("Start %s succeeded", path)
				}
				if !errors.Is(err, ErrSpawn) || errors.Is(err, ErrSupervisor) {
					t.Errorf("Start %s: %q; want ErrSpawn and not ErrSupervisor", path, err)
				}
			}
		})
	}
}
