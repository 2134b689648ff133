// SPDX-License-Identifier: Apache-2.0

//go:build unix

package ndjson

import (
	"os"
	"syscall"
	"time"
)

// tryWrite writes what of p fits now into f, when f is a descriptor in
// the runtime poller (non-blocking), without waiting: it returns how much
// was written, 0 when the descriptor would block or is not pollable (the
// caller then writes the usual way), or the write's error (EPIPE for a
// reader that is gone).
func tryWrite(f *os.File, p []byte) (int, error) {
	// Clearing the deadline costs no system call, and fails exactly for
	// a descriptor outside the poller: a blocking one, which must not be
	// written from here (it could block without a bound).
	if f.SetWriteDeadline(time.Time{}) != nil {
		return 0, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, nil
	}
	n, werr := 0, error(nil)
	if err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), p)
			if werr != syscall.EINTR {
				return true
			}
		}
	}); err != nil {
		return 0, nil // closed: the usual path reports it
	}
	switch {
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: werr}
	case n < 0:
		return 0, nil
	}
	return n, nil
}
