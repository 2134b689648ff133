// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// lineSink feeds a Splitter and signals every complete line.
type lineSink struct {
	sp    *Splitter
	lines chan struct{}
}

func newLineSink(max int) *lineSink {
	s := &lineSink{lines: make(chan struct{}, 1024)}
	s.sp = NewSplitter(max, func([]byte) { s.lines <- struct{}{} }, nil)
	return s
}

func (s *lineSink) OnData(p []byte)   { s.sp.Feed(p) }
func (s *lineSink) OnClose(err error) { s.sp.Flush() }

// BenchmarkLoopRoundTrip writes one 200-byte line into a pipe and waits
// until the Loop has read it and the Splitter has delivered it, with some
// idle watches beside it (an idle watch should cost nothing per event).
func BenchmarkLoopRoundTrip(b *testing.B) {
	for _, impl := range loopImpls {
		for _, idle := range []int{0, 1000} {
			b.Run(fmt.Sprintf("%s/idle=%d", impl.name, idle), func(b *testing.B) {
				l, err := impl.new()
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				for range idle {
					r, _ := pipe(b)
					if _, err := l.watch(r, newRecSink()); err != nil {
						b.Fatal(err)
					}
				}
				r, w := pipe(b)
				s := newLineSink(1 << 20)
				if _, err := l.watch(r, s); err != nil {
					b.Fatal(err)
				}
				line := append(bytes.Repeat([]byte("x"), 199), '\n')
				b.SetBytes(int64(len(line)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Write(line); err != nil {
						b.Fatal(err)
					}
					<-s.lines
				}
			})
		}
	}
}

// BenchmarkLoopThroughput streams 1 MiB writes through one watch.
func BenchmarkLoopThroughput(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r, w := pipe(b)
	got := make(chan int, 1)
	total := 0
	s := newRecSink()
	s.onData = func(p []byte) {
		total += len(p)
		if total >= 1<<20 {
			total -= 1 << 20
			got <- 1
		}
	}
	s.data.Grow(0)
	sink := &countSink{fn: s.onData}
	if _, err := l.Watch(r, sink); err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		w.Write(chunk)
		<-got
	}
}

type countSink struct{ fn func([]byte) }

func (c *countSink) OnData(p []byte) { c.fn(p) }
func (c *countSink) OnClose(error)   {}

func BenchmarkReader(b *testing.B) {
	data := []byte(strings.Repeat(`{"decision":"allow","reason":"ok","n":12345}`+"\n", 1000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rd := bytes.NewReader(data)
	for b.Loop() {
		rd.Reset(data)
		r := NewReader(rd, 1<<20)
		for {
			if _, err := r.ReadLine(); err == io.EOF {
				break
			}
		}
	}
}

func BenchmarkSplitter(b *testing.B) {
	data := []byte(strings.Repeat(`{"decision":"allow","reason":"ok","n":12345}`+"\n", 1000))
	s := NewSplitter(1<<20, func([]byte) {}, nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for c := data; len(c) > 0; {
			n := min(len(c), 4000) // chunks that cut lines
			s.Feed(c[:n])
			c = c[n:]
		}
	}
}

// BenchmarkWriteAll writes into a pipe drained by another goroutine.
func BenchmarkWriteAll(b *testing.B) {
	for _, size := range []int{200, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { io.Copy(io.Discard, r); close(done) }()
			p := make([]byte, size)
			ctx, cancel := context.WithTimeout(context.Background(), 1<<40)
			defer cancel()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteAll(ctx, w, p); err != nil {
					b.Fatal(err)
				}
			}
			w.Close()
			<-done
			r.Close()
		})
	}
}
