// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package ndjson

import "os"

// Loop reads many files and hands what it reads to a [Sink] per file.
//
// On this platform each watch gets a goroutine with blocking reads (Linux
// uses one epoll goroutine for all of them). The callbacks and their
// guarantees are the same, except that callbacks of different watches may
// run concurrently.
//
// A Loop must be closed with [Loop.Close].
type Loop struct{ g *goroutineLoop }

// Watch is one file watched by a [Loop].
type Watch struct{ g *goroutineWatch }

// NewLoop returns a Loop.
func NewLoop() (*Loop, error) { return &Loop{newGoroutineLoop()}, nil }

// Watch starts reading f and handing the bytes to s. It takes ownership of
// f, also when it fails: f is closed by then, and s gets no calls. Watch may
// be called from any goroutine, including from a Sink callback, and s may
// get its first calls before Watch returns. After [Loop.Close] it returns
// ErrClosed.
func (l *Loop) Watch(f *os.File, s Sink) (*Watch, error) {
	w, err := l.g.watch(f, s)
	if err != nil {
		return nil, err
	}
	return &Watch{w}, nil
}

// Len returns the number of watches that have not ended yet.
func (l *Loop) Len() int { return l.g.len() }

// Close closes every watch (their Sinks get OnClose(ErrClosed)) and waits
// for their goroutines, except the one it is called from when called from a
// Sink callback. Close is idempotent and always returns nil.
//
// A read that the operating system cannot interrupt by closing the file
// (an anonymous pipe on Windows) ends only when the writer writes or closes;
// Close waits for it.
func (l *Loop) Close() error { return l.g.close() }

// Close stops the watch and closes its file; the Sink then gets
// OnClose(ErrClosed), unless the watch had already ended. Close is
// idempotent, safe from any goroutine and from Sink callbacks, and does not
// wait: one OnData may still be under way when it returns, unless it is
// called from that watch's own callback.
func (w *Watch) Close() { w.g.Close() }

// Borrow reports false here: each watch's goroutine reads its file, and a
// caller cannot take it over (on Linux it can, see the Linux docs).
func (w *Watch) Borrow() (fd int, ok bool) { return -1, false }

// Return does nothing: nothing can be borrowed here.
func (w *Watch) Return() error { return nil }
