// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

var lineCases = []struct {
	name  string
	in    string
	max   int
	lines []string
}{
	{"empty", "", 10, nil},
	{"one", "abc\n", 10, []string{"abc"}},
	{"several", "a\nbb\nccc\n", 10, []string{"a", "bb", "ccc"}},
	{"empty lines", "\n\na\n\n", 10, []string{"", "", "a", ""}},
	{"unterminated final", "a\nbc", 10, []string{"a", "bc"}},
	{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}},
	{"crlf final", "a\r\nb\r", 10, []string{"a", "b"}},
	{"only one cr dropped", "a\r\r\n", 10, []string{"a\r"}},
	{"inner cr kept", "a\rb\n", 10, []string{"a\rb"}},
	{"exactly max", "abcd\n", 4, []string{"abcd"}},
	{"max with cr", "abcd\r\n", 4, []string{"abcd"}},
	{"max+1", "abcde\nok\n", 4, []string{tooLong, "ok"}},
	{"max+1 ending in cr", "abcd\rx\nok\n", 4, []string{tooLong, "ok"}},
	{"long then resync", strings.Repeat("x", 100) + "\n{\"a\":1}\n", 8, []string{tooLong, `{"a":1}`}},
	{"long unterminated", "ok\n" + strings.Repeat("x", 100), 8, []string{"ok", tooLong}},
	{"final max+1", "ok\nabcde", 4, []string{"ok", tooLong}},
	{"final max with cr", "ok\nabcd\r", 4, []string{"ok", "abcd"}},
	{"two long", strings.Repeat("y", 50) + "\n" + strings.Repeat("z", 50) + "\nend", 10, []string{tooLong, tooLong, "end"}},
	{"max zero", "\na\n\r\n", 0, []string{"", tooLong, ""}},
	{"json", `{"decision":"allow"}` + "\n", 1 << 20, []string{`{"decision":"allow"}`}},
}

func TestReaderLines(t *testing.T) {
	for _, tc := range lineCases {
		if want := modelLines([]byte(tc.in), tc.max); !slices.Equal(want, tc.lines) {
			t.Fatalf("%s: the model gives %q, the case says %q", tc.name, want, tc.lines)
		}
		for _, chunking := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"bytewise", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			{"data+EOF", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }},
			{"halves", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
		} {
			t.Run(tc.name+"/"+chunking.name, func(t *testing.T) {
				got, err := readAll(NewReader(chunking.r(tc.in), tc.max))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tc.lines) {
					t.Errorf("got %q, want %q", got, tc.lines)
				}
			})
		}
	}
}

func TestReaderTooLongIsReportedEarly(t *testing.T) {
	// A child that writes a huge line and then stalls must not make
	// ReadLine wait for the newline.
	pr, pw := io.Pipe()
	defer pr.Close()
	go pw.Write([]byte(strings.Repeat("x", 100))) // blocks forever after
	r := NewReader(pr, 10)
	if _, err := r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("ReadLine = %v, want ErrLineTooLong", err)
	}
}

func TestReaderBoundedMemory(t *testing.T) {
	huge := strings.Repeat("x", 10<<20) + "\nok\n"
	r := NewReader(strings.NewReader(huge), 100)
	got, err := readAll(r)
	if err != nil || !slices.Equal(got, []string{tooLong, "ok"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	if cap(r.buf) > minBuffer {
		t.Errorf("buffer grew to %d bytes for a cap of 100", cap(r.buf))
	}
	r = NewReader(strings.NewReader(strings.Repeat("y", 1<<20)+"\n"), 64<<10)
	if _, err := readAll(r); err != nil {
		t.Fatal(err)
	}
	if cap(r.buf) > 64<<10+2 {
		t.Errorf("buffer grew to %d bytes for a cap of 64 KiB", cap(r.buf))
	}
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	t.Run("error drops the partial line", func(t *testing.T) {
		r := NewReader(io.MultiReader(strings.NewReader("a\npartial"), iotest.ErrReader(boom)), 100)
		got, err := readAll(r)
		if !errors.Is(err, boom) || !slices.Equal(got, []string{"a"}) {
			t.Fatalf("got %q, %v", got, err)
		}
		if _, err := r.ReadLine(); !errors.Is(err, boom) {
			t.Errorf("error is not sticky: %v", err)
		}
	})
	t.Run("no progress", func(t *testing.T) {
		r := NewReader(emptyReader{}, 10)
		if _, err := r.ReadLine(); !errors.Is(err, io.ErrNoProgress) {
			t.Errorf("ReadLine = %v, want io.ErrNoProgress", err)
		}
	})
	t.Run("EOF repeats", func(t *testing.T) {
		r := NewReader(strings.NewReader("x"), 10)
		r.ReadLine()
		for range 3 {
			if _, err := r.ReadLine(); err != io.EOF {
				t.Fatalf("ReadLine = %v, want io.EOF", err)
			}
		}
	})
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNegativeMax(t *testing.T) {
	got, _ := readAll(NewReader(strings.NewReader("\nx\n"), -3))
	if !slices.Equal(got, []string{"", tooLong}) {
		t.Errorf("got %q", got)
	}
}
