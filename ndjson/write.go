// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it makes a blocked write
// return at once.
var aLongTimeAgo = time.Unix(1, 0)

// WriteAll writes all of p to f, blocking at most until ctx ends.
//
// f should be pollable (a pipe from os.Pipe, or os.NewFile of a non-blocking
// descriptor): then the write waits in Go's runtime poller for the child to
// make room (EPOLLOUT backpressure), bounded by a write deadline taken from
// ctx, and cancelling ctx sets a deadline in the past. WriteAll owns f's
// write deadline while it runs and clears it before it returns. For a file
// the poller cannot handle, a helper goroutine does the blocking write; when
// ctx ends first, that write goes on (on a copy of p) until it completes or
// f is closed.
//
// When ctx ends first the error matches ctx.Err() (and, when the deadline
// interrupted the write, also os.ErrDeadlineExceeded) with [errors.Is]. A
// child that closed its end makes the error match syscall.EPIPE: Go ignores
// SIGPIPE for descriptors other than stdout and stderr, so the write fails
// instead of killing the process. After any error part of p may have been
// written, so the stream is out of sync and f should be closed.
func WriteAll(ctx context.Context, f *os.File, p []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ndjson: write: %w", err)
	}
	// Most lines fit in the pipe at once: one non-blocking write, and no
	// deadline or cancel callback to set up and take down.
	done, err := tryWrite(f, p)
	if err != nil {
		return fmt.Errorf("ndjson: write: %w", err)
	}
	if done == len(p) {
		return nil
	}
	total := len(p)
	p = p[done:]
	if ctx.Done() == nil { // ctx can never end
		if _, err := f.Write(p); err != nil {
			return fmt.Errorf("ndjson: write: %w", err)
		}
		return nil
	}
	deadline, hasDeadline := ctx.Deadline() // zero without: clears any old one
	if err := f.SetWriteDeadline(deadline); err != nil {
		if errors.Is(err, os.ErrNoDeadline) {
			return writeBlocking(ctx, f, p)
		}
		return fmt.Errorf("ndjson: write: %w", err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		f.SetWriteDeadline(aLongTimeAgo)
	})
	n, err := f.Write(p)
	if !stop() {
		// The cancel func has run or is running; wait for it, or it
		// could set its past deadline after the reset below and fail the
		// next write.
		<-fired
	}
	f.SetWriteDeadline(time.Time{})
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		ctxErr := ctx.Err()
		if ctxErr == nil && hasDeadline && !time.Now().Before(deadline) {
			// The poller's timer fired a moment before the context's.
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil {
			return fmt.Errorf("ndjson: write: %d of %d bytes written: %w (%w)", done+n, total, ctxErr, err)
		}
	}
	return fmt.Errorf("ndjson: write: %w", err)
}

// writeBlocking writes p to a file without deadline support on a helper
// goroutine, so the caller can still return when ctx ends.
func writeBlocking(ctx context.Context, f *os.File, p []byte) error {
	p = append([]byte(nil), p...) // the write may outlive this call
	done := make(chan error, 1)
	go func() {
		_, err := f.Write(p)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("ndjson: write: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ndjson: write: %w", ctx.Err())
	}
}

// WriteNow writes what of p fits into f now, without waiting and without
// a deadline: it returns how much was written (0 when f would block, or
// cannot be written without blocking a thread on this platform) or the
// write's error. A caller that must not wait for its reader (because it
// is that reader) writes this way first.
func WriteNow(f *os.File, p []byte) (int, error) {
	n, err := tryWrite(f, p)
	if err != nil {
		return n, fmt.Errorf("ndjson: write: %w", err)
	}
	return n, nil
}
