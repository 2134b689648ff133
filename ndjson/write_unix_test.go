// SPDX-License-Identifier: Apache-2.0

//go:build unix

package ndjson

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestWriteAllUnpollableFile covers the fallback for a blocking descriptor,
// which the runtime poller cannot put a deadline on.
func TestWriteAllUnpollableFile(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "blocking-r")
	w := os.NewFile(uintptr(p[1]), "blocking-w")
	defer w.Close()
	if err := w.SetWriteDeadline(time.Now()); !errors.Is(err, os.ErrNoDeadline) {
		testutil.SkipOrFail(t, "blocking pipe is pollable here (%v)", err)
	}
	const timeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := WriteAll(ctx, w, make([]byte, 1<<20))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > timeout+slack {
		t.Errorf("returned after %v", elapsed)
	}
	// Closing the read end ends the helper's write (EPIPE), so no
	// goroutine outlives the test.
	r.Close()
	if err := WriteAll(context.Background(), w, []byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("err = %v, want EPIPE", err)
	}
}
