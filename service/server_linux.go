// SPDX-License-Identifier: Apache-2.0

package service

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// getPeerCred reads the connecting process's credentials (SO_PEERCRED):
// what the kernel recorded at connect, which the client cannot forge.
func getPeerCred(nc net.Conn) (peerCred, error) {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return peerCred{}, fmt.Errorf("peer credentials need a unix socket, not %T", nc)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peerCred{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peerCred{}, err
	}
	if cerr != nil {
		return peerCred{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return peerCred{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid, Known: true}, nil
}

// tmpSeq makes the temporary names of one process's sockets unique.
var tmpSeq atomic.Uint64

// Socket is the listening socket hooksupd created itself (not one
// systemd passed in), with the lock that makes it ours.
type Socket struct {
	path string
	ino  uint64
	dev  uint64
	lock *os.File
}

// listen creates the service's unix socket at path, mode 0660, group
// group (when set). A socket file left by an instance that is gone is
// replaced; a live one (something answers), or a file that is not a
// socket, is an error. The new socket is bound under a temporary name,
// given its mode and group, and renamed into place, so the path never
// shows a socket with the wrong permissions and never goes missing while
// a stale one is replaced.
func listen(path, group string) (net.Listener, *Socket, error) {
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, nil, fmt.Errorf("socket_group: %w", err)
		}
		n, err := strconv.Atoi(g.Gid)
		if err != nil {
			return nil, nil, fmt.Errorf("socket_group %q: gid %q: %w", group, g.Gid, err)
		}
		gid = n
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	// The lock serialises instances that start at the same time: without
	// it both could find the old socket stale and the loser would listen
	// on a socket nobody can reach.
	lock, err := lockSocket(path + ".lock")
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (net.Listener, *Socket, error) {
		lock.Close()
		return nil, nil, err
	}
	if err := checkStale(path); err != nil {
		return fail(err)
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".hooksupd-%d-%d.sock", os.Getpid(), tmpSeq.Add(1)))
	bindPath := tmp
	if len(tmp) > 107 {
		bindPath = path // no room for a temporary name: bind in place
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	}
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: bindPath, Net: "unix"})
	if err != nil {
		return fail(err)
	}
	// The path is removed by Close of the server, and only while it is
	// still this socket (a newer instance may have replaced it).
	ln.SetUnlinkOnClose(false)
	cleanup := func(err error) (net.Listener, *Socket, error) {
		ln.Close()
		_ = os.Remove(bindPath)
		return fail(err)
	}
	if err := os.Chmod(bindPath, 0o660); err != nil {
		return cleanup(err)
	}
	if gid >= 0 {
		if err := os.Lchown(bindPath, -1, gid); err != nil {
			return cleanup(fmt.Errorf("socket_group %q: %w", group, err))
		}
	}
	if bindPath != path {
		if err := os.Rename(bindPath, path); err != nil {
			return cleanup(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return cleanup(err)
	}
	return ln, &Socket{path: path, ino: st.Ino, dev: st.Dev, lock: lock}, nil
}

// lockSocket takes the lock file at path. Remove unlinks the file at a
// clean stop, while still holding it; an instance that opened the file
// just before then holds a lock on a file that is gone, so it checks
// after locking that path is still its file, and tries again if not.
func lockSocket(path string) (*os.File, error) {
	for range 10 {
		lock, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("socket lock: %w", err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			lock.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is in use by another running hooksupd (lock %s is held)", strings.TrimSuffix(path, ".lock"), path)
			}
			return nil, fmt.Errorf("socket lock: %w", err)
		}
		if sameFile(lock, path) {
			return lock, nil
		}
		lock.Close() // unlinked by the instance that just stopped
	}
	return nil, fmt.Errorf("socket lock %s: replaced again and again; is another hooksupd starting and stopping?", path)
}

// sameFile reports whether path names the file f is open on.
func sameFile(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Lstat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// checkStale removes path when it is a socket nothing listens on.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s is in use: another process answers on it", path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%s: checking for a live listener: %w", path, err)
	}
	// Nothing listens: a stale socket of an instance that is gone. It is
	// replaced atomically by the rename in listen.
	return nil
}

// Remove deletes the socket file if it is still the one listen
// created, and releases the lock.
func (f *Socket) Remove() error {
	if f == nil {
		return nil
	}
	defer f.lock.Close()
	// The lock file goes too, while it is still held (see lockSocket): a
	// clean stop leaves nothing in the socket's directory.
	if sameFile(f.lock, f.lock.Name()) {
		defer os.Remove(f.lock.Name())
	}
	var st unix.Stat_t
	if err := unix.Lstat(f.path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Ino != f.ino || st.Dev != f.dev {
		return nil // replaced by someone else: theirs now
	}
	return os.Remove(f.path)
}

// Supported reports whether the service can run here: nil on Linux,
// an error wrapping supervisor.ErrNotSupported elsewhere.
func Supported() error { return nil }
