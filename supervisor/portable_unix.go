// SPDX-License-Identifier: Apache-2.0

//go:build unix

package supervisor

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const portableKillMechanism = "process group"

// closeInheritedFDs marks every fd above 2 close-on-exec. Go opens all of
// its own fds with O_CLOEXEC, but fds this process inherited without it
// (from a careless parent, a shell, a test harness) would otherwise pass
// through every exec into every hook (docs/pitfalls.md #16; os/exec has
// no close_range in the child). Run before every start: an fd opened
// without close-on-exec after the backend was created (cgo code, a raw
// syscall.Open) must not reach the next child either.
func closeInheritedFDs() {
	dir := "/dev/fd"
	if runtime.GOOS == "linux" {
		dir = "/proc/self/fd"
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// setProcAttr puts the child in a new process group (its pid is the
// group id), so kill(-pgid) reaches the tree, and sets the credential.
func setProcAttr(cmd *exec.Cmd, spec *Spec) error {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if c := spec.Credential; c != nil {
		attr.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
	}
	cmd.SysProcAttr = attr
	return nil
}

// killTree SIGKILLs the process group. The group id stays reserved while
// any member lives, so this cannot hit an unrelated group while there is
// a tree to kill; Release stops all signalling.
func (p *portableProcess) killTree() error { return p.signalGroup(syscall.SIGKILL) }

// termTree sends SIGTERM to the process group.
func (p *portableProcess) termTree() error { return p.signalGroup(syscall.SIGTERM) }

func (p *portableProcess) signalGroup(sig syscall.Signal) error {
	err := syscall.Kill(-p.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // the group is gone already
	}
	return err
}

// exitStatus converts os/exec's state. MemoryPeak is ru_maxrss: KiB on
// Linux, bytes on Darwin; elsewhere it is left unknown.
func exitStatus(ps *os.ProcessState) ExitStatus {
	st := ExitStatus{Code: ps.ExitCode(), CPU: ps.UserTime() + ps.SystemTime()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st.Code = -1
		st.Signal = ws.Signal()
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		switch runtime.GOOS {
		case "linux":
			st.MemoryPeak = int64(ru.Maxrss) * 1024
		case "darwin", "ios":
			st.MemoryPeak = int64(ru.Maxrss)
		}
	}
	return st
}

// procStats reads the direct child's CPU and resident memory from /proc
// (Linux); elsewhere it reports nothing.
func procStats(pid int) (Stats, error) {
	if runtime.GOOS != "linux" {
		return Stats{}, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stats{}, err
	}
	// Fields after the command name (which may contain spaces and
	// parentheses): state is field 3, utime 14, stime 15, rss 24.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stats{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return Stats{}, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	const userHZ = 100 // USER_HZ: fixed at 100 in the Linux ABI for /proc
	return Stats{
		CPU:           time.Duration(utime+stime) * (time.Second / userHZ),
		MemoryCurrent: rss * int64(os.Getpagesize()),
		Pids:          1,
	}, nil
}
