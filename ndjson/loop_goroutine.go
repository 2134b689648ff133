// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// goroutineReadBuffer is the read buffer of each watch goroutine.
const goroutineReadBuffer = 32 << 10

// goroutineLoop is the portable Loop: one goroutine per watch with blocking
// reads. It builds on every platform so that its tests run on Linux too.
type goroutineLoop struct {
	mu      sync.Mutex
	watches map[*goroutineWatch]struct{}
	closing bool
}

// goroutineWatch is one file watched by a goroutineLoop.
type goroutineWatch struct {
	f        *os.File
	sink     Sink
	closeReq atomic.Bool
	gid      atomic.Uint64 // id of the goroutine reading f
	done     chan struct{} // closed after OnClose
}

func newGoroutineLoop() *goroutineLoop {
	return &goroutineLoop{watches: make(map[*goroutineWatch]struct{})}
}

// watch starts a goroutine reading f into s; see Loop.Watch.
func (l *goroutineLoop) watch(f *os.File, s Sink) (*goroutineWatch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		f.Close()
		return nil, ErrClosed
	}
	w := &goroutineWatch{f: f, sink: s, done: make(chan struct{})}
	l.watches[w] = struct{}{}
	go l.read(w)
	return w, nil
}

// read is the goroutine of one watch. It alone calls the Sink, which makes
// OnClose come once and last.
func (l *goroutineLoop) read(w *goroutineWatch) {
	defer close(w.done)
	w.gid.Store(goroutineID())
	buf := make([]byte, goroutineReadBuffer)
	var err error
	for {
		n, rerr := w.f.Read(buf)
		if w.closeReq.Load() {
			err = ErrClosed
			break
		}
		if n > 0 {
			w.sink.OnData(buf[:n])
			if w.closeReq.Load() {
				err = ErrClosed
				break
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	w.f.Close()
	l.mu.Lock()
	delete(l.watches, w)
	l.mu.Unlock()
	w.sink.OnClose(err)
}

func (l *goroutineLoop) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watches)
}

// close closes every watch and waits for their goroutines, except the one
// it is called from when called from a Sink callback.
func (l *goroutineLoop) close() error {
	l.mu.Lock()
	l.closing = true
	ws := make([]*goroutineWatch, 0, len(l.watches))
	for w := range l.watches {
		ws = append(ws, w)
	}
	l.mu.Unlock()
	for _, w := range ws {
		w.Close()
	}
	self := goroutineID()
	for _, w := range ws {
		if w.gid.Load() != self {
			<-w.done
		}
	}
	return nil
}

// Close stops the watch. Closing the *os.File unblocks the pending read;
// os.File releases the descriptor only after that read has returned, so
// the number cannot be reused under it.
func (w *goroutineWatch) Close() {
	if w.closeReq.CompareAndSwap(false, true) {
		w.f.Close()
	}
}

// goroutineID returns the id of the calling goroutine, from the header of
// its stack trace ("goroutine 123 [running]:"). It is used only to let
// close, called from a Sink callback, skip waiting for itself.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
