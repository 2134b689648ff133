// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// tooLong stands for one ErrLineTooLong / onTooLong in an event list.
const tooLong = "<too long>"

// modelLines is the specification both Reader and Splitter must meet,
// written the obvious way: split at "\n", drop one trailing "\r", report a
// line over max as too long, deliver a non-empty unterminated tail.
func modelLines(input []byte, max int) []string {
	var out []string
	segs := bytes.Split(input, []byte("\n"))
	for i, seg := range segs {
		if i == len(segs)-1 && len(seg) == 0 {
			break // input ended with "\n" (or was empty)
		}
		seg = bytes.TrimSuffix(seg, []byte("\r"))
		if len(seg) > max {
			out = append(out, tooLong)
		} else {
			out = append(out, string(seg))
		}
	}
	return out
}

// chunkReader returns its data in the chunk sizes given, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, max(c.sizes[c.i%len(c.sizes)], 1))
		c.i++
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readAll drains a Reader into an event list.
func readAll(r *Reader) ([]string, error) {
	var out []string
	for i := 0; ; i++ {
		if i > 1<<20 {
			return out, fmt.Errorf("ReadLine does not terminate")
		}
		line, err := r.ReadLine()
		switch {
		case err == nil:
			out = append(out, string(line))
		case errors.Is(err, ErrLineTooLong):
			out = append(out, tooLong)
		case err == io.EOF:
			return out, nil
		default:
			return out, err
		}
	}
}

// splitAll feeds a Splitter chunk by chunk and flushes it.
func splitAll(input []byte, max int, sizes []int) []string {
	var out []string
	s := NewSplitter(max,
		func(line []byte) {
			if len(line) > max {
				panic(fmt.Sprintf("line of %d bytes delivered, max %d", len(line), max))
			}
			out = append(out, string(line))
		},
		func() { out = append(out, tooLong) })
	for i := 0; len(input) > 0; i++ {
		n := len(input)
		if len(sizes) > 0 {
			n = min(n, max1(sizes[i%len(sizes)]))
		}
		s.Feed(input[:n])
		input = input[n:]
	}
	s.Flush()
	return out
}

func max1(n int) int { return max(n, 1) }
