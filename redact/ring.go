// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"bytes"
	"strings"
	"sync"
)

// Ring keeps the most recent bytes written to it, up to a fixed capacity,
// for example the stderr tail of a hook. It is an [io.Writer] that never
// fails and never blocks on I/O, so a stream can be drained into it
// unconditionally. All methods are safe for concurrent use.
//
// The buffer is allocated once, in [NewRing]; a write costs O(min(len(p), N))
// and never reallocates.
type Ring struct {
	mu    sync.Mutex
	buf   []byte // fixed capacity N
	w     int    // next write position in buf
	size  int    // bytes held, <= len(buf)
	total int64  // bytes written since construction or Reset
	// prev is the byte just before the kept tail once bytes have been
	// dropped (total > N); it tells whether the tail starts a line.
	prev byte
}

// NewRing returns a Ring that keeps the most recent n bytes. A Ring with
// n <= 0 keeps nothing but still counts bytes in Total.
func NewRing(n int) *Ring {
	if n < 0 {
		n = 0
	}
	return &Ring{buf: make([]byte, n)}
}

// Write appends p, dropping the oldest bytes beyond the capacity. It always
// returns len(p), nil.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total += int64(len(p))
	n := len(r.buf)
	switch {
	case n == 0 || len(p) == 0:
	case len(p) >= n:
		// Only the last n bytes of p survive.
		if len(p) > n {
			r.prev = p[len(p)-n-1]
		} else if r.size > 0 {
			r.prev = r.buf[(r.w+n-1)%n] // newest old byte
		}
		copy(r.buf, p[len(p)-n:])
		r.w, r.size = 0, n
	default:
		if r.size+len(p) > n {
			// The byte before the new tail is old data, at the slot
			// this write's last byte is about to overwrite.
			r.prev = r.buf[(r.w+len(p)-1)%n]
		}
		c := copy(r.buf[r.w:], p)
		copy(r.buf, p[c:])
		r.w = (r.w + len(p)) % n
		r.size = min(r.size+len(p), n)
	}
	return len(p), nil
}

// Bytes returns a copy of the kept tail, oldest byte first.
func (r *Ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := r.tailLocked()
	return b
}

// tailLocked copies the kept tail and reports whether its first line is
// cut, i.e. bytes were dropped and the last dropped byte was not '\n'.
func (r *Ring) tailLocked() ([]byte, bool) {
	out := make([]byte, r.size)
	start := (r.w - r.size + len(r.buf)) % max(len(r.buf), 1)
	c := copy(out, r.buf[start:min(start+r.size, len(r.buf))])
	copy(out[c:], r.buf[:r.size-c])
	cut := r.total > int64(r.size) && r.prev != '\n'
	return out, cut
}

// Total returns the number of bytes written since construction or the last
// Reset, including those no longer kept.
func (r *Ring) Total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Reset empties the ring and zeroes Total. The buffer is kept.
func (r *Ring) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w, r.size, r.total, r.prev = 0, 0, 0, 0
}

// Redacted returns the kept tail as text that is safe to log: invalid UTF-8
// is replaced by U+FFFD and the result goes through [Text]. When older bytes
// were dropped in the middle of a line, that partial first line is left out
// too, because its beginning (a variable name, a keyword) decided how it
// would have been redacted.
func (r *Ring) Redacted() string {
	r.mu.Lock()
	b, cut := r.tailLocked()
	r.mu.Unlock()
	if cut {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return ""
		}
		b = b[i+1:]
	}
	return Text(strings.ToValidUTF8(string(b), "\uFFFD"))
}
