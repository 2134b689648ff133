// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"errors"
	"io"
)

const (
	// minBuffer is the first buffer a Reader allocates; it grows by
	// doubling, up to the cap, only while a line needs it.
	minBuffer = 4096
	// maxEmptyReads bounds io.Readers that return 0, nil forever.
	maxEmptyReads = 100
)

var errNegativeRead = errors.New("ndjson: reader returned negative count from Read")

// Reader reads lines with a hard length cap from a blocking [io.Reader]. Its
// buffer starts at 4 KiB and grows, only while a line needs it, up to max+2
// bytes (a line, its "\r", and one byte to look for the newline), however
// long the lines it is fed. A Reader is not safe for concurrent use.
type Reader struct {
	rd      io.Reader
	max     int
	buf     []byte
	r, w    int   // buf[r:w] is unread
	scanned int   // buf[r:r+scanned] holds no '\n'
	skip    bool  // dropping the rest of a line that was too long
	err     error // sticky error from rd, returned once buf is drained
}

// NewReader returns a Reader of lines of at most max bytes (not counting
// "\n" or a trailing "\r") from r. A negative max is taken as 0.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{rd: r, max: maxInt(max, 0)}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// ReadLine returns the next line without its "\n" and without one trailing
// "\r". The slice points into the Reader's buffer and is valid only until
// the next call.
//
// A line longer than the cap yields ErrLineTooLong as soon as that is known
// (before its end has been read, so a child cannot make ReadLine wait for a
// newline that never comes); the next call skips the rest of that line and
// returns the line after it.
//
// At EOF an unterminated final line is returned first, with a nil error; the
// call after it returns io.EOF. A read error other than EOF is returned
// instead of a partial line, which is incomplete; the error is sticky.
func (r *Reader) ReadLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(r.buf[r.r+r.scanned:r.w], '\n'); i >= 0 {
			end := r.r + r.scanned + i
			line := dropCR(r.buf[r.r:end])
			r.r, r.scanned = end+1, 0
			if r.skip {
				r.skip = false
				continue
			}
			if len(line) > r.max {
				return nil, ErrLineTooLong
			}
			return line, nil
		}
		r.scanned = r.w - r.r
		switch {
		case r.skip:
			// Nothing of a too-long line is kept.
			r.r, r.w, r.scanned = 0, 0, 0
		case r.scanned > r.max+1:
			// Longer than max even if it ends in "\r\n".
			r.r, r.w, r.scanned = 0, 0, 0
			r.skip = true
			return nil, ErrLineTooLong
		}
		if r.err != nil {
			if r.err == io.EOF && r.w > r.r {
				line := dropCR(r.buf[r.r:r.w])
				r.r, r.w, r.scanned = 0, 0, 0
				if len(line) > r.max {
					return nil, ErrLineTooLong
				}
				return line, nil
			}
			r.r, r.w, r.scanned = 0, 0, 0
			return nil, r.err
		}
		r.fill()
	}
}

// fill reads once more from rd into the free end of buf, first compacting
// the buffer and, when it is full of an unfinished line, growing it.
func (r *Reader) fill() {
	if r.r > 0 {
		copy(r.buf, r.buf[r.r:r.w])
		r.w -= r.r
		r.r = 0
	}
	if r.w == len(r.buf) {
		// The pending line is at most max+1 bytes here, so a buffer of
		// max+2 always has room for one more byte.
		limit := maxInt(minBuffer, r.max+2)
		size := min(maxInt(2*len(r.buf), minBuffer), limit)
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.w:])
		if n < 0 {
			panic(errNegativeRead)
		}
		r.w += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}
