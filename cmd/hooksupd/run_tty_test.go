// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testutil.SkipOrFail(t, "no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

// TestRunInteractiveTerminal: on a terminal, CMD becomes the foreground
// job while it runs, so it can read the terminal instead of being stopped
// by SIGTTIN (both backends put CMD in a process group of its own).
func TestRunInteractiveTerminal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		master, slave := openPTY(t)
		defer master.Close()
		cmd := exec.Command(binPath, "run", "--backend", b, "--timeout", "10", "--",
			"sh", "-c", "read x; echo got-$x")
		cmd.Env = append(os.Environ(), raceEnv)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		// A session of its own with the pty as controlling terminal makes
		// hooksupd the terminal's foreground job, as under a shell.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()

		var mu sync.Mutex
		var out bytes.Buffer
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				mu.Lock()
				out.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		time.Sleep(300 * time.Millisecond) // let CMD reach its read
		if _, err := master.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		code := waitExit(t, cmd, 20*time.Second)
		// The pty's output is complete once its last writer is gone.
		deadline := time.Now().Add(2 * time.Second)
		for {
			mu.Lock()
			s := out.String()
			mu.Unlock()
			if strings.Contains(s, "got-hello") || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		s := out.String()
		mu.Unlock()
		if code != 0 || !strings.Contains(s, "got-hello") {
			t.Errorf("exit %d, terminal output %q: CMD could not read the terminal", code, s)
		}
		master.Close()
		<-readDone
	})
}
