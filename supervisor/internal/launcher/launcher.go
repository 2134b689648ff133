// SPDX-License-Identifier: Apache-2.0

// Package launcher holds hooksupd's pre-placed launcher: a tiny static
// program (csrc/launcher.c, freestanding, no libc, no language runtime) that the
// Linux supervisor starts ahead of time inside a hook's groups, parks on a
// control pipe, and later tells what to execve. The hook then starts with
// the launcher's pid, groups and pipes, so it runs no instruction outside
// its limits and the cgroup migration stays off the fire's hot path.
//
// The blobs are built by build.sh and committed (launcher_amd64.bin, and
// launcher_arm64.bin with Debian's cross gcc), so building hooksupd needs
// no C compiler. Architectures without a blob get nil from Blob and the
// supervisor spawns directly.
//
// This file defines the wire protocol shared with csrc/launcher.c.
package launcher

//go:generate sh build.sh
//go:generate env ARCH=arm64 sh build.sh

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// File descriptors of a launcher besides the hook's stdio 0, 1 and 2.
const (
	FDControl = 3 // read end of the control pipe: one Request, EOF = exit 0
	FDStatus  = 4 // write end of the status pipe: Ready, then EOF or an error
	// FDPlace is the first of the cgroup.procs files (O_WRONLY) the
	// launcher writes "0" into, placing itself, before it reports Ready;
	// their number is argv[1].
	FDPlace = 5
)

// MaxPlace bounds the number of placement fds.
const MaxPlace = 16

// Ready is the byte a launcher writes on FDStatus once it is parked.
const Ready = 'R'

// StatusSize is the size of an error report on FDStatus.
const StatusSize = 8

// ExitCode is the exit code of a launcher whose request failed.
const ExitCode = 127

const (
	magic      = 0x314c4b48 // "HKL1"
	headerSize = 32
	maxRequest = 64 << 20
	flagNoFile = 1
)

// Blob returns the launcher executable for this platform, or nil when
// there is none.
func Blob() []byte { return blob }

// Request is what a parked launcher is told to do: apply the rlimits,
// change directory, close every fd above 2 and execve.
type Request struct {
	Path   string   // absolute path of the program
	Argv   []string // argv, including argv[0]
	Env    []string // the complete environment
	Dir    string   // working directory; "" keeps the launcher's ("/")
	NoFile uint64   // RLIMIT_NOFILE soft and hard; 0 leaves it alone
}

// Encode appends the wire form of r to dst. Strings must not contain NUL
// bytes.
func (r *Request) Encode(dst []byte) ([]byte, error) {
	if len(r.Argv) == 0 {
		return dst, errors.New("launcher: empty argv")
	}
	size := headerSize + len(r.Path) + 1 + len(r.Dir) + 1
	for _, s := range r.Argv {
		size += len(s) + 1
	}
	for _, s := range r.Env {
		size += len(s) + 1
	}
	if size > maxRequest {
		return dst, fmt.Errorf("launcher: request of %d bytes is too large", size)
	}
	var flags uint32
	if r.NoFile > 0 {
		flags |= flagNoFile
	}
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, magic)
	dst = le.AppendUint32(dst, uint32(size))
	dst = le.AppendUint32(dst, uint32(len(r.Argv)))
	dst = le.AppendUint32(dst, uint32(len(r.Env)))
	dst = le.AppendUint32(dst, flags)
	dst = le.AppendUint32(dst, 0)
	dst = le.AppendUint64(dst, r.NoFile)
	var err error
	put := func(s string) {
		if strings.IndexByte(s, 0) >= 0 && err == nil {
			err = fmt.Errorf("launcher: NUL byte in %q", s)
		}
		dst = append(dst, s...)
		dst = append(dst, 0)
	}
	put(r.Path)
	put(r.Dir)
	for _, s := range r.Argv {
		put(s)
	}
	for _, s := range r.Env {
		put(s)
	}
	return dst, err
}

// Argv returns the launcher's argv for nplace placement fds and the
// setup operations to apply, in order, before the launcher parks.
func Argv(nplace int, ops ...Op) []string {
	argv := []string{"hooksupd-launcher", strconv.Itoa(nplace)}
	for _, op := range ops {
		argv = append(argv, string(op))
	}
	return argv
}

// KeeperArgv is the argv that makes the launcher binary a keeper: PID 1
// of a new PID namespace that reaps orphans and exits at EOF on FDControl
// or at its parent-death signal, whereupon the kernel kills every process
// of the namespace.
func KeeperArgv() []string { return []string{"hooksupd-keeper", "K"} }

// Op is one setup operation of a launcher (csrc/launcher.c), applied at
// preparation, before the launcher parks: by the time a fire comes, the
// launcher already is in the hook's sandbox.
type Op string

// BindReadOnly makes path (recursively) read-only in the launcher's mount
// namespace.
func BindReadOnly(path string) Op { return Op("b" + path) }

// BindWritable makes path (recursively) writable again below a read-only
// parent.
func BindWritable(path string) Op { return Op("w" + path) }

// Inaccessible covers the directory path with an empty, read-only tmpfs
// of mode 000.
func Inaccessible(path string) Op { return Op("i" + path) }

// Tmpfs mounts an empty world-writable, sticky tmpfs on path.
func Tmpfs(path string) Op { return Op("t" + path) }

// TmpfsDir mounts an empty tmpfs of mode 0755 on path.
func TmpfsDir(path string) Op { return Op("h" + path) }

// Proc mounts a new procfs on /proc: the view of the launcher's own PID
// namespace.
func Proc() Op { return Op("P") }

// ProcMount has the launcher attach the detached procfs mount at its fd
// n on /proc (move_mount) and close it.
func ProcMount(n int) Op { return Op("p" + strconv.Itoa(n)) }

// Loopback brings up the loopback interface (in a new network namespace).
func Loopback() Op { return Op("L") }

// Credentials makes the launcher setgroups, setresgid and setresuid.
func Credentials(uid, gid uint32, groups []uint32) Op {
	s := "u" + strconv.FormatUint(uint64(uid), 10) + ":" + strconv.FormatUint(uint64(gid), 10)
	for i, g := range groups {
		if i == 0 {
			s += ":"
		} else {
			s += ","
		}
		s += strconv.FormatUint(uint64(g), 10)
	}
	return Op(s)
}

// Capabilities keeps exactly the capabilities in mask (bit n is
// capability n) and drops every other one from the bounding, permitted,
// effective, inheritable and ambient sets; kept ones are raised in the
// ambient set so that they survive the hook's execve under any uid.
func Capabilities(mask uint64) Op { return Op("c" + strconv.FormatUint(mask, 16)) }

// Seccomp has the launcher install prog (struct sock_filter array, 8
// bytes per instruction) as its seccomp filter right before it execs the
// hook: one system call on the fire's path, nothing the launcher itself
// still does is filtered.
func Seccomp(prog []byte) Op { return Op("s" + hex.EncodeToString(prog)) }

// Landlock has the launcher enforce the Landlock ruleset at its fd n
// (landlock_restrict_self) and close it, before it parks.
func Landlock(n int) Op { return Op("l" + strconv.Itoa(n)) }

// Valid reports whether op can be sent: no NUL byte, and a path that is
// absolute.
func (op Op) Valid() error {
	if len(op) == 0 || strings.IndexByte(string(op), 0) >= 0 {
		return fmt.Errorf("launcher: invalid setup operation %q", string(op))
	}
	switch op[0] {
	case 'b', 'w', 'i', 't', 'h', 'r', 'W':
		if len(op) < 2 || op[1] != '/' {
			return fmt.Errorf("launcher: setup path %q is not absolute", string(op[1:]))
		}
	}
	return nil
}

// ExecError is a launcher's report that it could not run a request or
// place itself.
type ExecError struct {
	Stage string // "request", "setrlimit", "chdir", "execve", "close fds", "place" or "setup"
	Errno syscall.Errno
}

func (e *ExecError) Error() string { return e.Stage + ": " + e.Errno.Error() }

// Unwrap returns the errno, so errors.Is(err, fs.ErrNotExist) works.
func (e *ExecError) Unwrap() error { return e.Errno }

var stages = [...]string{1: "request", 2: "setrlimit", 3: "chdir", 4: "execve", 5: "close fds", 6: "place", 7: "setup"}

// DecodeStatus turns the bytes a launcher wrote on FDStatus instead of
// Ready, or after a request, into an error: nil for none (EOF after a
// request: execve succeeded).
func DecodeStatus(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) != StatusSize {
		return fmt.Errorf("launcher: malformed status (%d bytes)", len(b))
	}
	stage := binary.LittleEndian.Uint32(b)
	e := &ExecError{Stage: "unknown", Errno: syscall.Errno(binary.LittleEndian.Uint32(b[4:]))}
	if int(stage) < len(stages) && stages[stage] != "" {
		e.Stage = stages[stage]
	}
	return e
}
