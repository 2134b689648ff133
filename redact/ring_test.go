// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

var _ io.Writer = (*Ring)(nil)

// model is the obvious, slow implementation the Ring must agree with.
type model struct {
	n   int
	all []byte
}

func (m *model) write(p []byte) { m.all = append(m.all, p...) }
func (m *model) tail() []byte {
	if len(m.all) <= m.n {
		return m.all
	}
	return m.all[len(m.all)-m.n:]
}

func TestRingMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 4096} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := NewRing(n)
			m := &model{n: n}
			for i := 0; i < 2000; i++ {
				// Mostly small writes, sometimes one larger than the ring.
				size := rng.IntN(n + 2)
				if rng.IntN(20) == 0 {
					size = rng.IntN(3*n + 3)
				}
				p := make([]byte, size)
				for j := range p {
					p[j] = byte(rng.IntN(256))
				}
				if k, err := r.Write(p); k != len(p) || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
				m.write(p)
				if got := r.Bytes(); !bytes.Equal(got, m.tail()) {
					t.Fatalf("after %d writes: Bytes = %x, want %x", i+1, got, m.tail())
				}
				if r.Total() != int64(len(m.all)) {
					t.Fatalf("Total = %d, want %d", r.Total(), len(m.all))
				}
			}
		})
	}
}

func TestRingWraparound(t *testing.T) {
	r := NewRing(4)
	for _, s := range []string{"ab", "cd", "ef", "g"} {
		r.Write([]byte(s))
	}
	if got := string(r.Bytes()); got != "defg" {
		t.Errorf("Bytes = %q, want %q", got, "defg")
	}
	if r.Total() != 7 {
		t.Errorf("Total = %d, want 7", r.Total())
	}
}

func TestRingHugeWrite(t *testing.T) {
	r := NewRing(4096)
	r.Write([]byte("old"))
	big := bytes.Repeat([]byte("0123456789"), 1<<17) // 1.25 MiB
	r.Write(big)
	if got := r.Bytes(); !bytes.Equal(got, big[len(big)-4096:]) {
		t.Errorf("Bytes after a huge write is not its tail")
	}
	if want := int64(3 + len(big)); r.Total() != want {
		t.Errorf("Total = %d, want %d", r.Total(), want)
	}
}

func TestRingBytesIsACopy(t *testing.T) {
	r := NewRing(8)
	r.Write([]byte("abc"))
	b := r.Bytes()
	b[0] = 'X'
	if got := string(r.Bytes()); got != "abc" {
		t.Errorf("Bytes shares memory with the ring: %q", got)
	}
}

func TestRingReset(t *testing.T) {
	r := NewRing(4)
	r.Write([]byte("abcdef"))
	r.Reset()
	if len(r.Bytes()) != 0 || r.Total() != 0 {
		t.Fatalf("after Reset: %q, total %d", r.Bytes(), r.Total())
	}
	r.Write([]byte("xy"))
	if got := string(r.Bytes()); got != "xy" {
		t.Errorf("Bytes = %q, want xy", got)
	}
	if got := r.Redacted(); got != "xy" {
		t.Errorf("Redacted = %q, want xy (not cut after Reset)", got)
	}
}

func TestRingZeroCapacity(t *testing.T) {
	for _, n := range []int{0, -5} {
		r := NewRing(n)
		if k, err := r.Write([]byte("hello")); k != 5 || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
		if len(r.Bytes()) != 0 || r.Total() != 5 || r.Redacted() != "" {
			t.Errorf("NewRing(%d): Bytes %q Total %d Redacted %q", n, r.Bytes(), r.Total(), r.Redacted())
		}
	}
}

func TestRingWriteDoesNotAllocate(t *testing.T) {
	r := NewRing(4096)
	small, big := []byte("a line of stderr\n"), make([]byte, 10000)
	if n := testing.AllocsPerRun(1000, func() { r.Write(small); r.Write(big) }); n != 0 {
		t.Errorf("Write allocates %v times", n)
	}
}

func TestRingConcurrent(t *testing.T) {
	const writers, perWriter = 8, 2000
	r := NewRing(1024)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := []byte(fmt.Sprintf("writer %d says hello\n", w))
			for range perWriter {
				r.Write(line)
			}
		}()
	}
	wg.Add(1)
	go func() { // readers interleave with writers
		defer wg.Done()
		for range 500 {
			if len(r.Bytes()) > 1024 {
				t.Error("ring grew past its capacity")
			}
			_ = r.Redacted()
			_ = r.Total()
		}
	}()
	wg.Wait()
	var want int64
	for w := range writers {
		want += int64(len(fmt.Sprintf("writer %d says hello\n", w))) * perWriter
	}
	if r.Total() != want {
		t.Errorf("Total = %d, want %d", r.Total(), want)
	}
	// Writes are atomic: the kept tail is whole lines after the first cut one.
	lines := strings.Split(strings.TrimSuffix(r.Redacted(), "\n"), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "writer ") || !strings.HasSuffix(l, " says hello") {
			t.Fatalf("torn line in the tail: %q", l)
		}
	}
}

func TestRingRedacted(t *testing.T) {
	t.Run("whole lines", func(t *testing.T) {
		r := NewRing(128)
		r.Write([]byte("starting\nAPI_KEY=abc\nfailed: " + ghClassic + "\n"))
		want := "starting\nAPI_KEY=<redacted>\nfailed: <redacted:github>\n"
		if got := r.Redacted(); got != want {
			t.Errorf("Redacted = %q, want %q", got, want)
		}
	})
	t.Run("cut line is dropped", func(t *testing.T) {
		r := NewRing(16)
		// The tail starts in the middle of "MY_PASSWORD: hunter2"; its
		// remainder must not reach the log.
		r.Write([]byte("MY_PASSWORD: hunter2\nbye\n"))
		if got := string(r.Bytes()); got != "RD: hunter2\nbye\n" {
			t.Fatalf("Bytes = %q", got)
		}
		if got := r.Redacted(); got != "bye\n" {
			t.Errorf("Redacted = %q, want %q", got, "bye\n")
		}
	})
	t.Run("tail starting at a line start is whole", func(t *testing.T) {
		r := NewRing(8)
		r.Write([]byte("dropped\n"))
		r.Write([]byte("kept\n"))
		r.Write([]byte("ok\n"))
		if got := r.Redacted(); got != "kept\nok\n" {
			t.Errorf("Redacted = %q, want %q", got, "kept\nok\n")
		}
		r2 := NewRing(5)
		r2.Write([]byte("a\nkept\n")) // exact fit after one dropped line
		if got := r2.Redacted(); got != "kept\n" {
			t.Errorf("Redacted = %q, want %q", got, "kept\n")
		}
	})
	t.Run("one cut line only", func(t *testing.T) {
		r := NewRing(4)
		r.Write([]byte("TOKEN_VALUE_NO_NEWLINE"))
		if got := r.Redacted(); got != "" {
			t.Errorf("Redacted = %q, want empty", got)
		}
	})
	t.Run("invalid utf-8", func(t *testing.T) {
		r := NewRing(16)
		r.Write([]byte("bad \xff byte\n"))
		if got := r.Redacted(); got != "bad \uFFFD byte\n" {
			t.Errorf("Redacted = %q", got)
		}
	})
}

func BenchmarkRingWrite(b *testing.B) {
	r := NewRing(4096)
	chunk := bytes.Repeat([]byte("x"), 4096)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		r.Write(chunk[:1000])
		r.Write(chunk)
	}
}
