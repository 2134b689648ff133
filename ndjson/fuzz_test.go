// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"slices"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, tc := range lineCases {
		f.Add([]byte(tc.in), uint8(tc.max), []byte{1, 3, 7})
	}
	f.Add([]byte("a\r\n\r\nbbbbbbbbbb\r\nc"), uint8(3), []byte{2})
	f.Add(bytes.Repeat([]byte("x\n"), 100), uint8(0), []byte{})
}

// chunkSizes turns fuzzer bytes into a chunking (nil: one chunk).
func chunkSizes(b []byte) []int {
	var out []int
	for _, c := range b {
		out = append(out, int(c)+1)
	}
	return out
}

// FuzzReader checks the Reader against the model for any input, cap and
// chunking: no line over the cap is ever delivered, and when no line is too
// long the delivered lines are exactly the input's lines.
func FuzzReader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, max8 uint8, chunks []byte) {
		max := int(max8)
		got, err := readAll(NewReader(&chunkReader{data: in, sizes: chunkSizes(chunks)}, max))
		if err != nil {
			t.Fatal(err)
		}
		checkLines(t, in, max, got)
	})
}

// FuzzSplitter is FuzzReader for the Splitter.
func FuzzSplitter(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, max8 uint8, chunks []byte) {
		max := int(max8)
		checkLines(t, in, max, splitAll(in, max, chunkSizes(chunks)))
	})
}

func checkLines(t *testing.T, in []byte, max int, got []string) {
	t.Helper()
	for _, l := range got {
		if l != tooLong && len(l) > max {
			t.Fatalf("delivered a %d-byte line, cap %d", len(l), max)
		}
	}
	want := modelLines(in, max)
	if !slices.Equal(got, want) {
		t.Fatalf("input %q, cap %d:\n got %q\nwant %q", in, max, got, want)
	}
	if !slices.Contains(got, tooLong) {
		// Independently of the model: the input is the delivered lines,
		// each followed by "\n", "\r\n", or (the last) "\r" or nothing.
		rest := in
		for i, l := range got {
			if !bytes.HasPrefix(rest, []byte(l)) {
				t.Fatalf("line %d %q is not next in the input %q", i, l, rest)
			}
			rest = rest[len(l):]
			switch {
			case bytes.HasPrefix(rest, []byte("\r\n")):
				rest = rest[2:]
			case bytes.HasPrefix(rest, []byte("\n")):
				rest = rest[1:]
			case i == len(got)-1 && (string(rest) == "\r" || len(rest) == 0):
				rest = nil
			default:
				t.Fatalf("line %d %q is not followed by a line end in %q", i, l, in)
			}
		}
		if len(rest) != 0 {
			t.Fatalf("input %q left undelivered", rest)
		}
	}
}
