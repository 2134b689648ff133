// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File helpers. cgroup files are small kernfs files: one read or one write
// each, no buffering, and errors that name the file.
//
// Every system call the package makes on cgroup files and directories goes
// through sys*, which retry EINTR. Writes need it as much as reads: on
// cgroup v1 a write to memory.limit_in_bytes fails with EINTR whenever a
// signal is pending on the writing thread (and the Go runtime sends
// SIGURG for preemption), and the kernel has not applied the write then.

// fault, when set (by tests only), is called before each attempt of a
// system call; an error it returns stands in for the call's result, as if
// the kernel had returned it. nil in production.
var fault func(op, path string) error

// retry calls f until its error is not EINTR.
func retry[T any](op, path string, f func() (T, error)) (T, error) {
	for {
		var v T
		var err error
		if fault != nil {
			err = fault(op, path)
		}
		if err == nil {
			v, err = f()
		}
		if err != unix.EINTR {
			return v, err
		}
	}
}

func sysOpen(path string, flags int) (int, error) {
	return retry("open", path, func() (int, error) { return unix.Open(path, flags|unix.O_CLOEXEC, 0) })
}

// sysRead and sysWrite name the file only for the fault hook and errors.
func sysRead(fd int, b []byte, path string) (int, error) {
	return retry("read", path, func() (int, error) { return unix.Read(fd, b) })
}

func sysPread(fd int, b []byte, path string) (int, error) {
	return retry("pread", path, func() (int, error) { return unix.Pread(fd, b, 0) })
}

func sysWrite(fd int, b []byte, path string) (int, error) {
	return retry("write", path, func() (int, error) { return unix.Write(fd, b) })
}

func sysMkdir(path string) error {
	_, err := retry("mkdir", path, func() (struct{}, error) { return struct{}{}, unix.Mkdir(path, 0o755) })
	return err
}

func sysRmdir(path string) error {
	_, err := retry("rmdir", path, func() (struct{}, error) { return struct{}{}, unix.Rmdir(path) })
	return err
}

func sysFlock(fd, how int, path string) error {
	_, err := retry("flock", path, func() (struct{}, error) { return struct{}{}, unix.Flock(fd, how) })
	return err
}

// writeFile writes s to an existing cgroup file with a single write(2), as
// the kernel parses each write on its own.
func writeFile(path, s string) error {
	fd, err := sysOpen(path, unix.O_WRONLY)
	if err != nil {
		return fileErr("open", path, err)
	}
	defer unix.Close(fd)
	if _, err := sysWrite(fd, []byte(s), path); err != nil {
		return fileErr("write "+strconv.Quote(strings.TrimSpace(s))+" to", path, err)
	}
	return nil
}

// readFile reads a whole cgroup file. It uses raw open/read/close, not an
// os.File: kernfs files support poll, so an os.File would register each
// one with the runtime poller (two epoll_ctl calls and allocations per
// read).
func readFile(path string) ([]byte, error) {
	var small [512]byte
	b, err := readInto(path, small[:], true)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// readInto reads a cgroup file into buf, growing it (on the heap) when
// grow is set and the file is larger; else a larger file is an error.
func readInto(path string, buf []byte, grow bool) ([]byte, error) {
	fd, err := sysOpen(path, unix.O_RDONLY)
	if err != nil {
		return nil, fileErr("read", path, err)
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(buf) {
			if !grow {
				return nil, fmt.Errorf("cgroup: %s larger than %d bytes", path, len(buf))
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := sysRead(fd, buf[n:], path)
		switch {
		case err != nil:
			return nil, fileErr("read", path, err)
		case m == 0:
			return buf[:n], nil
		}
		n += m
	}
}

// preadAll reads a kept-open cgroup file from offset 0; kernfs restarts the
// seq_file at offset 0, so no lseek and no reopen is needed.
func preadAll(fd int, buf []byte) ([]byte, error) {
	n, err := sysPread(fd, buf, "")
	if err != nil {
		return nil, err
	}
	if n == len(buf) {
		return nil, fmt.Errorf("cgroup file larger than %d bytes", len(buf))
	}
	return buf[:n], nil
}

// fileErr formats an error about one cgroup file, wrapping ErrNotSupported
// when the file does not exist (a controller or feature is missing).
func fileErr(op, path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cgroup: %s %s: %w (%w)", op, path, err, ErrNotSupported)
	}
	return fmt.Errorf("cgroup: %s %s: %w", op, path, err)
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := retry("access", path, func() (struct{}, error) { return struct{}{}, unix.Access(path, unix.F_OK) })
	return err == nil
}

// parseUint parses a decimal counter, accepting "max" as the largest value.
func parseUint(b []byte) (uint64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return 1<<63 - 1, nil
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// readUintFile reads a single-value cgroup file.
func readUintFile(path string) (uint64, error) {
	var buf [64]byte
	b, err := readInto(path, buf[:], false)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, fmt.Errorf("cgroup: parse %s: %w", path, err)
	}
	return v, nil
}

// keyValue returns the value of key in a flat-keyed file ("key value"
// lines, as memory.events, memory.oom_control, cpu.stat, cgroup.events).
func keyValue(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok || string(k) != key {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// readKey reads key from a flat-keyed cgroup file by path.
func readKey(path, key string) (uint64, error) {
	var buf [1024]byte
	b, err := readInto(path, buf[:], true)
	if err != nil {
		return 0, err
	}
	v, ok := keyValue(b, key)
	if !ok {
		return 0, fmt.Errorf("cgroup: %s has no %q: %w", path, key, ErrNotSupported)
	}
	return v, nil
}

// readPids parses a cgroup.procs file.
func readPids(path string) ([]int, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("cgroup: parse %s: %w", path, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// subdirs returns dir and every cgroup directory below it, deepest first,
// so that removing them in order never meets a non-empty parent. A missing
// dir yields nothing.
func subdirs(dir string) []string {
	var out []string
	var walk func(d string)
	walk = func(d string) {
		ents, err := os.ReadDir(d)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.IsDir() {
				walk(filepath.Join(d, e.Name()))
			}
		}
		out = append(out, d)
	}
	if exists(dir) {
		walk(dir)
	}
	return out
}

// treePids lists the processes in dir and every cgroup below it.
func treePids(dir string) []int {
	var pids []int
	for _, d := range subdirs(dir) {
		p, _ := readPids(filepath.Join(d, "cgroup.procs"))
		pids = append(pids, p...)
	}
	return pids
}
