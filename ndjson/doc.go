// SPDX-License-Identifier: Apache-2.0

// Package ndjson frames newline-delimited JSON over the pipes of hook
// children, with a hard cap on line length, and multiplexes the reading of
// many pipes.
//
// A hook is untrusted: it may write a line without end, flood its stdout or
// stderr, or never read its stdin. Every reader here therefore bounds the
// memory a line can take ([ErrLineTooLong], then resynchronisation at the
// next newline), and [WriteAll] bounds a write by a context so a child that
// does not read cannot block a fire past its deadline.
//
// Three ways to read lines, for three situations:
//
//   - [Reader] pulls lines from a blocking [io.Reader], the simple and
//     portable way for a goroutine that owns one stream.
//   - [Splitter] turns pushed chunks into lines; it is what a [Sink] uses
//     inside a [Loop].
//   - [Loop] reads many pipes on one goroutine. On Linux that goroutine runs
//     epoll_wait over non-blocking descriptors, so an idle child costs no
//     goroutine and no OS thread; elsewhere each watched file gets a
//     goroutine with blocking reads, with the same callbacks.
//
// All three treat a line the same way: the bytes before "\n", without one
// trailing "\r"; a line longer than the cap is reported once and skipped up
// to the next newline; an unterminated final line is delivered at EOF.
package ndjson

import "errors"

// ErrLineTooLong reports a line longer than the cap. The rest of that line is
// skipped; reading goes on with the next one.
var ErrLineTooLong = errors.New("ndjson: line too long")

// ErrClosed reports a use of a closed [Loop], and is what [Sink.OnClose]
// receives when a watch ends because it, or its Loop, was closed.
var ErrClosed = errors.New("ndjson: closed")

// dropCR removes one trailing '\r', so CRLF-terminated lines read the same.
func dropCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
