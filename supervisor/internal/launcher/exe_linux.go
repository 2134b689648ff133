// SPDX-License-Identifier: Apache-2.0

package launcher

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoBlob is returned by Load on platforms without a launcher.
var ErrNoBlob = errors.New("launcher: no launcher for this platform")

// Exe is the launcher loaded into a sealed, read-only memfd. Nothing on
// disk is needed, nothing can change it after Load, and the supervisor
// starts it by the name Attach gives, which works for a memfd because the
// launcher is a static ELF (no interpreter reopens the path).
type Exe struct {
	fd   int
	once sync.Once
}

// Load copies the blob into a new memfd, seals it against every change
// and reopens it read-only, so no writable descriptor remains (execve
// refuses files open for writing with ETXTBSY).
func Load() (*Exe, error) { return LoadNamed("hooksupd-launcher") }

// LoadNamed is Load with the memfd named name, which /proc/PID/exe shows
// ("/memfd:NAME (deleted)"): the keeper is told apart from launchers so.
func LoadNamed(name string) (*Exe, error) {
	b := Blob()
	if b == nil {
		return nil, ErrNoBlob
	}
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_EXEC)
	if err == unix.EINVAL { // before Linux 6.3, MFD_EXEC is unknown
		fd, err = unix.MemfdCreate(name, flags)
	}
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	defer unix.Close(fd)
	for p := b; len(p) > 0; {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("write memfd", err)
		}
		p = p[n:]
	}
	if err := unix.Fchmod(fd, 0o555); err != nil {
		return nil, os.NewSyscallError("fchmod memfd", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals|unix.F_SEAL_EXEC)
	if err == unix.EINVAL { // F_SEAL_EXEC is Linux 6.3+
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	}
	if err != nil {
		return nil, os.NewSyscallError("seal memfd", err)
	}
	ro, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("launcher: reopen memfd read-only (is /proc mounted?): %w", err)
	}
	return &Exe{fd: ro}, nil
}

// Attach appends the memfd to files, the fds a child gets (files[i]
// becomes fd i), and returns the name to exec the launcher by in that
// child, with the extended list.
//
// Why not exec "/proc/self/fd/<memfd>" directly: the child's fd setup
// (syscall's forkAndExecInChild) dup2s the files onto 0, 1, 2, … and moves
// its own exec-status pipe to the first number above them, before execve
// resolves the path. Whatever number the memfd has, some child (a process
// started with only fds 0–2, or a busy supervisor whose pipes sit just
// below the memfd) gets it overwritten and the exec fails with EACCES.
// Handed over as one of the child's files, it lands on a number of its own
// that the setup never reuses. The launcher closes it (close_range) before
// it execs the hook.
func (e *Exe) Attach(files []uintptr) (path string, out []uintptr) {
	out = append(files, uintptr(e.fd))
	return "/proc/self/fd/" + strconv.Itoa(len(out)-1), out
}

// FD returns the memfd.
func (e *Exe) FD() int { return e.fd }

// Close closes the memfd; later starts of the launcher fail.
func (e *Exe) Close() error {
	err := os.ErrClosed
	e.once.Do(func() { err = unix.Close(e.fd) })
	return err
}
