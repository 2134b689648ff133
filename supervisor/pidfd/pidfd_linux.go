// SPDX-License-Identifier: Apache-2.0

package pidfd

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hooksupd/hooksupd/internal/errs"
	"golang.org/x/sys/unix"
)

// ErrNotSupported is wrapped by Probe's error when the kernel lacks a
// pidfd feature (pidfd_open and pidfd_send_signal need 5.3, waitid
// P_PIDFD 5.4).
var ErrNotSupported = errs.ErrNotSupported

var probeOnce = sync.OnceValue(probe)

// Probe reports whether pidfd_open, pidfd_send_signal and waitid(P_PIDFD)
// work here. It probes once; later calls return the first answer.
func Probe() error { return probeOnce() }

func probe() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("%w: pidfd_open: %w", ErrNotSupported, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return fmt.Errorf("%w: pidfd_send_signal: %w", ErrNotSupported, err)
	}
	// The probing process is not its own child: a kernel that knows
	// P_PIDFD answers ECHILD, an older one EINVAL. Seccomp filters that
	// answer ENOSYS or EPERM count as missing too.
	var info siginfo
	_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_PIDFD, uintptr(fd),
		uintptr(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOHANG, 0, 0)
	if errno != unix.ECHILD {
		return fmt.Errorf("%w: waitid(P_PIDFD): %w", ErrNotSupported, errno)
	}
	return nil
}

// Status is how a reaped process ended.
type Status struct {
	// Code is the exit code, or -1 when a signal killed the process.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal unix.Signal
	// Rusage are the resources used by the process and the descendants
	// it waited for.
	Rusage unix.Rusage
}

// FD owns one pidfd. Its methods are safe for concurrent use; the
// descriptor is closed exactly once, after Close and after every call that
// was using it has returned.
type FD struct {
	mu     sync.Mutex
	fd     int
	refs   int  // calls currently using fd
	closed bool // Close was called; fd is closed when refs drops to 0
	reaped atomic.Bool
}

// Open opens a pidfd for pid. The caller must make sure pid is the
// process it means (a child not yet reaped, or the caller itself).
func Open(pid int) (*FD, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	unix.CloseOnExec(fd)
	return New(fd), nil
}

// New takes ownership of a raw pidfd, e.g. one returned by clone through
// SysProcAttr.PidFD. Nobody else may close fd afterwards.
func New(fd int) *FD { return &FD{fd: fd} }

// Raw returns the descriptor, or -1 after Close. It is only valid while
// the caller otherwise knows the FD is not being closed.
func (p *FD) Raw() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return -1
	}
	return p.fd
}

// acquire pins the descriptor for one call.
func (p *FD) acquire() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return -1, os.ErrClosed
	}
	p.refs++
	return p.fd, nil
}

// release ends a call; the last one after Close closes the descriptor.
func (p *FD) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs--
	if p.refs == 0 && p.closed {
		unix.Close(p.fd)
	}
}

// Signal sends sig to the process. Once the process has been reaped, or
// when the kernel reports it gone (ESRCH), it returns os.ErrProcessDone.
func (p *FD) Signal(sig unix.Signal) error {
	if p.reaped.Load() {
		return os.ErrProcessDone
	}
	fd, err := p.acquire()
	if err != nil {
		return err
	}
	defer p.release()
	switch err := unix.PidfdSendSignal(fd, sig, nil, 0); err {
	case nil:
		return nil
	case unix.ESRCH:
		return os.ErrProcessDone
	default:
		return os.NewSyscallError("pidfd_send_signal", err)
	}
}

// Wait blocks until the process exits, reaps it with waitid(P_PIDFD,
// WEXITED) and returns its status and rusage. Only the parent of the
// process can reap it; a second Wait returns an error wrapping ECHILD.
func (p *FD) Wait() (Status, error) {
	fd, err := p.acquire()
	if err != nil {
		return Status{}, err
	}
	defer p.release()
	var (
		info siginfo
		ru   unix.Rusage
	)
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_PIDFD, uintptr(fd),
			uintptr(unsafe.Pointer(&info)), unix.WEXITED, uintptr(unsafe.Pointer(&ru)), 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return Status{}, os.NewSyscallError("waitid", errno)
		}
		break
	}
	p.reaped.Store(true)
	st := Status{Code: -1, Rusage: ru}
	switch info.Code {
	case cldExited:
		st.Code = int(info.Status)
	case cldKilled, cldDumped:
		st.Signal = unix.Signal(info.Status)
	default:
		return st, fmt.Errorf("waitid: unexpected si_code %d", info.Code)
	}
	return st, nil
}

// Close closes the pidfd; with calls still in flight, the last of them
// closes it. A second Close returns os.ErrClosed.
func (p *FD) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return os.ErrClosed
	}
	p.closed = true
	if p.refs == 0 {
		return unix.Close(p.fd)
	}
	return nil
}

// si_code values of SIGCHLD (asm-generic/siginfo.h).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// siginfo is the kernel's siginfo_t with the SIGCHLD fields decoded; the
// union starts at offset 12 on 32-bit and 16 on 64-bit systems.
type siginfo struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      [unsafe.Sizeof(uintptr(0)) - 4]byte
	Pid    int32
	UID    uint32
	Status int32
	_      [128 - 24 - (unsafe.Sizeof(uintptr(0)) - 4)]byte // siginfo_t is 128 bytes
}
