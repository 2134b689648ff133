// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"golang.org/x/sys/unix"
)

// delegReport is what the "deleg" helper prints.
type delegReport struct {
	Error      string // Open's error
	Self       string // the helper's cgroup after Open
	Path       string // Manager.Path
	CanEnforce string // CanEnforce of all limits, "" when nil
	MemoryMax  string // memory.max of a new group, when it could be made
}

// runDelegHelper opens a Manager from inside a cgroup prepared by the test
// and reports what it did.
func runDelegHelper(name string) int {
	var r delegReport
	m, err := Open(Options{Name: name})
	if err != nil {
		r.Error = err.Error()
	} else {
		r.Self = ownUnified()
		r.Path = m.Path()
		if err := m.CanEnforce(Limits{MemoryMax: 32 << 20, CPUQuota: 10 * time.Millisecond, PidsMax: 9}); err != nil {
			r.CanEnforce = err.Error()
		} else if g, err := m.NewGroup("x", Limits{MemoryMax: 32 << 20}); err != nil {
			r.Error = err.Error()
		} else {
			b, _ := os.ReadFile(filepath.Join(g.uni, "memory.max"))
			r.MemoryMax = strings.TrimSpace(string(b))
		}
		if err := m.Close(); err != nil {
			r.Error = err.Error()
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// ownUnified returns this process's cgroup2 path from /proc/self/cgroup.
func ownUnified() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p
		}
	}
	return ""
}

// Where the cgroups go under delegation (systemd Delegate=yes): the
// supervisor moves itself into a "supervisor" leaf and puts its subtree
// beside it, with the controllers enabled — only when it is alone in its
// cgroup (docs/pitfalls.md #13, no internal processes).
func TestV2DelegatedCgroup(t *testing.T) {
	requireUnified(t)
	testutil.CheckFDLeak(t)
	for _, tc := range []struct {
		name    string
		startIn string // "", or "supervisor" (systemd DelegateSubgroup=)
		crowded bool   // another process shares the delegated cgroup
	}{
		{name: "alone"},
		{name: "delegate-subgroup", startIn: leafName},
		{name: "crowded", crowded: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deleg := filepath.Join("/sys/fs/cgroup", testName()+"-deleg")
			if err := os.Mkdir(deleg, 0o755); err != nil {
				testutil.SkipOrFail(t, "mkdir %s: %v", deleg, err)
			}
			t.Cleanup(func() {
				for _, d := range subdirs(deleg) {
					if _, err := (&Manager{}).rmdirRetry(d); err != nil {
						t.Errorf("cleanup: %v", err)
					}
				}
			})
			startDir := deleg
			if tc.startIn != "" {
				startDir = filepath.Join(deleg, tc.startIn)
				if err := os.Mkdir(startDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dirFD, err := unix.Open(startDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dirFD)
			if tc.crowded {
				startHelper(t, "sleep", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: dirFD})
			}
			name := testName()
			var out bytes.Buffer
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=deleg "+name)
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: dirFD}
			cmd.Stdin = strings.NewReader("go\n")
			cmd.Stdout = &out
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("helper: %v", err)
			}
			var r delegReport
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("helper output %q: %v", out.String(), err)
			}
			t.Logf("%+v", r)
			if r.Error != "" {
				t.Fatalf("helper: %s", r.Error)
			}
			rel := strings.TrimPrefix(deleg, "/sys/fs/cgroup")
			if r.Path != filepath.Join(deleg, name) {
				t.Errorf("subtree %s, want %s", r.Path, filepath.Join(deleg, name))
			}
			if tc.crowded {
				if r.Self != rel {
					t.Errorf("crowded: the helper moved itself to %s", r.Self)
				}
				if !strings.Contains(r.CanEnforce, "other processes") {
					t.Errorf("crowded: CanEnforce = %q, want it to name the other processes", r.CanEnforce)
				}
				return
			}
			if r.Self != rel+"/"+leafName {
				t.Errorf("helper in %s, want %s/%s", r.Self, rel, leafName)
			}
			if r.CanEnforce != "" || r.MemoryMax != fmt.Sprint(32<<20) {
				t.Errorf("CanEnforce %q, memory.max %q", r.CanEnforce, r.MemoryMax)
			}
			if sc := readT(t, deleg, "cgroup.subtree_control"); !strings.Contains(sc, "memory") || !strings.Contains(sc, "pids") {
				t.Errorf("delegated cgroup.subtree_control = %q", sc)
			}
			if exists(filepath.Join(deleg, name)) {
				t.Errorf("Close left %s", filepath.Join(deleg, name))
			}
		})
	}
}
