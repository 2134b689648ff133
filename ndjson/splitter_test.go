// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitterLines(t *testing.T) {
	for _, tc := range lineCases {
		for _, sizes := range [][]int{nil, {1}, {2}, {3, 1, 7}, {5, 13}} {
			got := splitAll([]byte(tc.in), tc.max, sizes)
			if !slices.Equal(got, tc.lines) {
				t.Errorf("%s, chunks %v: got %q, want %q", tc.name, sizes, got, tc.lines)
			}
		}
	}
}

// TestSplitterEverySplitPoint feeds each case in two chunks split at every
// position, the boundary cases for pending-line handling.
func TestSplitterEverySplitPoint(t *testing.T) {
	for _, tc := range lineCases {
		in := []byte(tc.in)
		for cut := 0; cut <= len(in); cut++ {
			var got []string
			s := NewSplitter(tc.max, func(l []byte) { got = append(got, string(l)) }, func() { got = append(got, tooLong) })
			s.Feed(in[:cut])
			s.Feed(in[cut:])
			s.Flush()
			if !slices.Equal(got, tc.lines) {
				t.Errorf("%s cut at %d: got %q, want %q", tc.name, cut, got, tc.lines)
			}
		}
	}
}

func TestSplitterBoundedMemory(t *testing.T) {
	n := 0
	s := NewSplitter(100, nil, func() { n++ })
	chunk := []byte(strings.Repeat("x", 4096))
	for range 1000 {
		s.Feed(chunk)
	}
	s.Feed([]byte("\nok"))
	if n != 1 {
		t.Errorf("onTooLong called %d times, want once", n)
	}
	if cap(s.pending) > 256 {
		t.Errorf("pending grew to %d bytes for a cap of 100", cap(s.pending))
	}
}

func TestSplitterNilCallbacks(t *testing.T) {
	s := NewSplitter(2, nil, nil)
	s.Feed([]byte("a\nlong line\nb"))
	s.Flush()
}

func TestSplitterReuseAfterFlush(t *testing.T) {
	var got []string
	s := NewSplitter(10, func(l []byte) { got = append(got, string(l)) }, nil)
	s.Feed([]byte("first"))
	s.Flush()
	s.Feed([]byte("second\n"))
	if !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("got %q", got)
	}
}

func TestSplitterZeroCopy(t *testing.T) {
	chunk := []byte("abc\ndef\n")
	var ptrs []*byte
	s := NewSplitter(10, func(l []byte) { ptrs = append(ptrs, &l[0]) }, nil)
	s.Feed(chunk)
	if len(ptrs) != 2 || ptrs[0] != &chunk[0] || ptrs[1] != &chunk[4] {
		t.Errorf("complete lines inside a chunk were copied")
	}
}
