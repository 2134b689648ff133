// SPDX-License-Identifier: Apache-2.0

package ndjson

import "bytes"

// Splitter splits a stream that arrives in chunks of any size into lines,
// with the same rules as [Reader]: a line is the bytes before "\n" without
// one trailing "\r"; a line longer than max is reported once through
// onTooLong and skipped up to the next newline. It keeps at most max+1 bytes
// of an unfinished line, however long the line. A Splitter is not safe for
// concurrent use, and its callbacks must not call Feed or Flush.
type Splitter struct {
	max       int
	onLine    func(line []byte)
	onTooLong func()
	pending   []byte // start of an unfinished line, at most max+1 bytes
	skip      bool   // dropping the rest of a line that was too long
}

// NewSplitter returns a Splitter of lines of at most max bytes. onLine gets
// each line, valid only during the call (it may point into the chunk given
// to Feed); onTooLong is called once per line over the cap. Either may be
// nil. A negative max is taken as 0.
func NewSplitter(max int, onLine func(line []byte), onTooLong func()) *Splitter {
	return &Splitter{max: maxInt(max, 0), onLine: onLine, onTooLong: onTooLong}
}

// Feed splits the next chunk of the stream, calling onLine and onTooLong for
// every line it completes. Complete lines inside p are handed over without
// being copied.
func (s *Splitter) Feed(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.hold(p)
			return
		}
		seg := p[:i]
		p = p[i+1:]
		switch {
		case s.skip:
			s.skip = false
		case len(s.pending) == 0:
			s.emit(seg)
		case len(s.pending)+len(seg) > s.max+1:
			s.pending = s.pending[:0]
			s.tooLong()
		default:
			s.pending = append(s.pending, seg...)
			s.emit(s.pending)
			s.pending = s.pending[:0]
		}
	}
}

// Flush delivers an unterminated final line, as at EOF, and resets the
// Splitter for a new stream.
func (s *Splitter) Flush() {
	if s.skip {
		s.skip = false // already reported
		return
	}
	if len(s.pending) > 0 {
		line := s.pending
		s.pending = s.pending[:0]
		s.emit(line)
	}
}

// hold keeps the start of an unfinished line, or gives up on it once it is
// longer than any line that could still fit the cap.
func (s *Splitter) hold(p []byte) {
	if s.skip {
		return
	}
	if len(s.pending)+len(p) > s.max+1 {
		s.pending = s.pending[:0]
		s.skip = true
		s.tooLong()
		return
	}
	s.pending = append(s.pending, p...)
}

func (s *Splitter) emit(line []byte) {
	line = dropCR(line)
	if len(line) > s.max {
		s.tooLong()
		return
	}
	if s.onLine != nil {
		s.onLine(line)
	}
}

func (s *Splitter) tooLong() {
	if s.onTooLong != nil {
		s.onTooLong()
	}
}
