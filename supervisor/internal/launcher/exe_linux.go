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
// starts it as Path(), which works for a close-on-exec memfd because the
// launcher is a static ELF (no interpreter reopens the path).
type Exe struct {
	fd   int
	path string
	once sync.Once
}

// Load copies the blob into a new memfd, seals it against every change
// and reopens it read-only, so no writable descriptor remains (execve
// refuses files open for writing with ETXTBSY).
func Load() (*Exe, error) {
	b := Blob()
	if b == nil {
		return nil, ErrNoBlob
	}
	const name = "hooksupd-launcher"
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
	// Move the memfd above every fd number a child is given. The child's
	// fd setup dup2s its files onto 0, 1, 2, … before execve opens this
	// path; a memfd that landed on one of those numbers (a process started
	// with only 0–2 open gets 3) would be overwritten first, and the exec
	// would fail or run the wrong file.
	if hi, err := unix.FcntlInt(uintptr(ro), unix.F_DUPFD_CLOEXEC, minExeFD); err == nil {
		unix.Close(ro)
		ro = hi
	} else if ro < minExeFD {
		unix.Close(ro)
		return nil, fmt.Errorf("launcher: move memfd above fd %d: %w", minExeFD, err)
	}
	return &Exe{fd: ro, path: "/proc/self/fd/" + strconv.Itoa(ro)}, nil
}

// minExeFD is the lowest fd number the memfd may have: far above the
// handful of fds (stdio, control, status, cgroup.procs) a launcher gets.
const minExeFD = 64

// Path is the name to exec the launcher by, valid in this process and in
// children until they exec (the fd is close-on-exec).
func (e *Exe) Path() string { return e.path }

// FD returns the memfd.
func (e *Exe) FD() int { return e.fd }

// Close closes the memfd; later starts of the launcher fail.
func (e *Exe) Close() error {
	err := os.ErrClosed
	e.once.Do(func() { err = unix.Close(e.fd) })
	return err
}
