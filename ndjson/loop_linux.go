// SPDX-License-Identifier: Apache-2.0

//go:build linux

package ndjson

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// readBufferSize is the one read buffer of a Loop: 64 KiB is the
	// default pipe capacity, so one read usually drains a pipe.
	readBufferSize = 64 << 10
	// maxReadsPerWake bounds how much one flooding pipe is read before the
	// other ready pipes get their turn; epoll is level-triggered, so the
	// rest is reported again by the next epoll_wait.
	maxReadsPerWake = 16
	// maxEvents is the number of ready descriptors taken per epoll_wait.
	maxEvents = 128
	// wakeID is the epoll data of the eventfd; watch ids start at 1.
	wakeID = 0
)

// errPoll reports an error or hang-up condition on a watched descriptor that
// a read could not turn into data, EOF or an errno.
var errPoll = errors.New("ndjson: error condition on watched file")

// Loop reads many files (pipes, sockets, FIFOs, terminals) on one goroutine
// and hands what it reads to a [Sink] per file.
//
// On Linux that goroutine runs epoll_wait over the non-blocking descriptors:
// watching a file costs no goroutine and no thread, and all reads go through
// one 64 KiB buffer. Only that goroutine reads from, removes and closes a
// watched descriptor, so a Close can never race with a read, and an event is
// matched to its watch by a unique id, never by descriptor number (numbers
// are reused as soon as they are closed).
//
// The goroutine never blocks in epoll_wait. It polls with a zero timeout
// and, when nothing is ready, parks in Go's runtime poller, where the epoll
// descriptor itself is registered (an epoll set is readable while any of its
// descriptors is ready). So an idle Loop holds no OS thread, and a goroutine
// that a callback wakes (a channel send) runs at once on the same P instead
// of waiting behind a P held by a thread in a system call: a blocking
// epoll_wait on a locked thread measured 35–67 µs per round trip, this way
// 5.5–13 µs (BenchmarkLoopRoundTrip, 2 vCPUs, same load, interleaved runs).
//
// A Loop must be closed with [Loop.Close] to stop its goroutine.
type Loop struct {
	epfd   int
	epf    *os.File        // owns epfd, registered in the runtime poller
	rc     syscall.RawConn // epf's, to park until epfd is readable
	gid    uint64          // the loop goroutine's id, for Close from a callback
	buf    []byte          // the read buffer, used by the loop goroutine only
	events []unix.EpollEvent
	spare  []*Watch           // second close queue, swapped with closeQ
	pollFn func(uintptr) bool // made once: a closure per Read would allocate
	stop   error              // set by poll to end run
	done   chan struct{}

	mu          sync.Mutex
	evfd        int // -1 once closed; written under mu only
	watches     map[uint64]*Watch
	nextID      uint64
	closeQ      []*Watch // Close requests for the loop goroutine
	wakePending bool     // evfd has been written since the last drain
	closing     bool     // Close was called; Watch fails
}

// Watch is one file watched by a [Loop].
type Watch struct {
	l        *Loop
	id       uint64
	fd       int // owned by the Loop; closed by its goroutine only
	sink     Sink
	closeReq atomic.Bool
	// svc is held by the loop goroutine while it services or finishes the
	// watch, and by a reader that borrowed the descriptor (Borrow) until
	// it gives it back: exactly one reader at a time.
	svc      sync.Mutex
	finished bool // OnClose delivered; under svc
	borrowed bool // out of the epoll set, read by a borrower; under svc
}

// NewLoop starts a Loop and its goroutine.
func NewLoop() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	// os.NewFile registers a non-blocking descriptor with the runtime
	// poller; the flag does not change how epoll_wait behaves.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	epf := os.NewFile(uintptr(epfd), "epoll")
	rc, err := epf.SyscallConn()
	if err != nil {
		unix.Close(evfd)
		epf.Close()
		return nil, err
	}
	l := &Loop{
		epfd:    epfd,
		epf:     epf,
		rc:      rc,
		evfd:    evfd,
		buf:     make([]byte, readBufferSize),
		events:  make([]unix.EpollEvent, maxEvents),
		done:    make(chan struct{}),
		watches: make(map[uint64]*Watch),
		nextID:  wakeID + 1,
	}
	started := make(chan struct{})
	go l.run(started)
	<-started
	return l, nil
}

// Watch starts reading f and handing the bytes to s. It takes ownership of
// f, also when it fails: f is closed by then, and s gets no calls.
//
// The Loop reads a duplicate of f's descriptor and closes f itself, which
// takes the file out of Go's runtime poller (otherwise every byte would wake
// both). The descriptor is switched to non-blocking mode if it is not
// already; that flag belongs to the open file description, so it also
// affects other descriptors sharing it. Regular files cannot be watched
// (epoll rejects them with EPERM).
//
// Watch may be called from any goroutine, including from a Sink callback,
// and s may get its first calls before Watch returns. After [Loop.Close] it
// returns ErrClosed.
func (l *Loop) Watch(f *os.File, s Sink) (*Watch, error) {
	fd, err := takeFD(f)
	if err != nil {
		return nil, fmt.Errorf("ndjson: watch %s: %w", f.Name(), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		unix.Close(fd)
		return nil, ErrClosed
	}
	w := &Watch{l: l, id: l.nextID, fd: fd, sink: s}
	l.nextID++
	// Registered in the map first, so the loop knows the id as soon as
	// epoll reports it; and under mu, so a concurrent shutdown cannot
	// close the epoll descriptor in between.
	l.watches[w.id] = w
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP}
	setEventID(&ev, w.id)
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(l.watches, w.id)
		unix.Close(fd)
		return nil, fmt.Errorf("ndjson: watch %s: %w", f.Name(), os.NewSyscallError("epoll_ctl", err))
	}
	return w, nil
}

// takeFD returns a non-blocking, close-on-exec duplicate of f's descriptor
// and closes f. It goes through SyscallConn because f.Fd would switch the
// descriptor to blocking mode.
func takeFD(f *os.File) (int, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// Len returns the number of watches that have not ended yet.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watches)
}

// Close closes every watch (their Sinks get OnClose(ErrClosed)) and stops
// the loop goroutine. It waits until that is done, except when it is called
// from a Sink callback: then the loop finishes as soon as the callback
// returns. Close is idempotent and always returns nil.
func (l *Loop) Close() error {
	l.mu.Lock()
	if !l.closing {
		l.closing = true
		l.wakeLocked()
	}
	l.mu.Unlock()
	if goroutineID() == l.gid {
		return nil // from a callback: the loop stops once it returns
	}
	<-l.done
	return nil
}

// Close stops the watch and closes its file; the Sink then gets
// OnClose(ErrClosed), unless the watch had already ended. Close is
// idempotent, safe from any goroutine and from Sink callbacks, and does not
// wait: the loop goroutine removes and closes the descriptor, so no read can
// race with the close. Called from a callback of the Loop, it guarantees
// that no OnData for this watch follows; called from elsewhere, one OnData
// may still be under way.
func (w *Watch) Close() {
	if !w.closeReq.CompareAndSwap(false, true) {
		return
	}
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closing { // shutdown closes it anyway
		l.closeQ = append(l.closeQ, w)
		l.wakeLocked()
	}
}

// wakeLocked makes the loop goroutine return from epoll_wait, once per
// drain however many requests pile up. The eventfd is written under mu,
// which shutdown also holds to close it, so a write can never reach a
// reused descriptor number.
func (l *Loop) wakeLocked() {
	if l.wakePending || l.evfd < 0 {
		return
	}
	l.wakePending = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for {
		// EAGAIN would need 2^64-2 unread wakes; nothing else can fail.
		if _, err := unix.Write(l.evfd, one[:]); err != unix.EINTR {
			return
		}
	}
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run is the loop goroutine.
func (l *Loop) run(started chan<- struct{}) {
	defer close(l.done)
	l.gid = goroutineID()
	l.pollFn = l.poll
	close(started)
	for l.stop == nil {
		// Read calls pollFn until it returns true, parking the goroutine
		// in the runtime poller each time it returns false.
		if err := l.rc.Read(l.pollFn); err != nil && l.stop == nil {
			l.stop = err // epf closed under the loop: a bug
		}
	}
	stop := l.stop
	if stop == errStop {
		stop = ErrClosed
	}
	l.shutdown(stop)
	// Only here, outside Read, may epf be closed: Close waits for the
	// Read in progress.
	l.epf.Close()
}

// errStop ends run after Close; the watches then get ErrClosed.
var errStop = errors.New("ndjson: loop stopped")

// poll takes one batch of ready descriptors without blocking and services
// them. It returns false when nothing was ready, so the goroutine parks until
// epfd is readable, and true to be called again (after a batch there may be
// more) or, with l.stop set, to end the loop.
func (l *Loop) poll(uintptr) bool {
	n, err := unix.EpollWait(l.epfd, l.events, 0)
	if err == unix.EINTR {
		return true // try again at once
	}
	if err != nil {
		l.stop = os.NewSyscallError("epoll_wait", err) // EBADF, EFAULT, EINVAL: a bug
		return true
	}
	if n == 0 {
		return false
	}
	wake := false
	for i := range n {
		ev := &l.events[i]
		id := eventID(ev)
		if id == wakeID {
			wake = true
			continue
		}
		l.mu.Lock()
		w := l.watches[id]
		l.mu.Unlock()
		if w != nil { // nil: finished earlier in this batch
			l.service(w, ev.Events)
		}
	}
	if wake && l.drain() {
		l.stop = errStop
	}
	return true
}

// service reads what a ready watch has, on the loop goroutine. A watch
// whose descriptor is borrowed is skipped: it left the epoll set, so the
// event is one taken before that.
func (l *Loop) service(w *Watch, events uint32) {
	if !w.svc.TryLock() {
		return
	}
	defer w.svc.Unlock()
	if w.closeReq.Load() {
		l.finish(w, ErrClosed)
		return
	}
	hup := events&(unix.EPOLLHUP|unix.EPOLLRDHUP|unix.EPOLLERR) != 0
	for range maxReadsPerWake {
		n, err := unix.Read(w.fd, l.buf)
		switch {
		case err == nil && n > 0:
			w.sink.OnData(l.buf[:n])
			if w.closeReq.Load() { // closed from the callback
				l.finish(w, ErrClosed)
				return
			}
			// A short read emptied the pipe; level-triggered epoll
			// reports new data, which saves the read that would only
			// return EAGAIN. After a hang-up, read on to the EOF.
			if n < len(l.buf) && !hup {
				return
			}
		case err == nil:
			l.finish(w, nil) // EOF
			return
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if hup {
				// Hang-up or error without data or EOF to read: end the
				// watch rather than spin on a level-triggered event.
				if events&unix.EPOLLERR != 0 {
					l.finish(w, errPoll)
				} else {
					l.finish(w, nil)
				}
			}
			return
		default:
			l.finish(w, os.NewSyscallError("read", err))
			return
		}
	}
}

// drain takes the queued Close requests and reports whether the Loop is
// closing.
func (l *Loop) drain() bool {
	var b [8]byte
	unix.Read(l.evfd, b[:]) // reset the counter; EAGAIN is fine
	l.mu.Lock()
	q := l.closeQ
	l.closeQ, l.spare = l.spare, nil
	l.wakePending = false
	closing := l.closing
	l.mu.Unlock()
	for _, w := range q {
		// A borrowed watch is closed when its borrower gives it back
		// (Return queues it again); the loop never waits for a borrower.
		if w.svc.TryLock() {
			l.finish(w, ErrClosed)
			w.svc.Unlock()
		}
	}
	clear(q)
	l.spare = q[:0]
	return closing
}

// finish ends a watch exactly once, on the loop goroutine, with w.svc held: the descriptor
// leaves the epoll set before it is closed, so its number cannot be reused
// while still registered.
func (l *Loop) finish(w *Watch, err error) {
	if w.finished {
		return
	}
	w.finished = true
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
	unix.Close(w.fd)
	l.mu.Lock()
	delete(l.watches, w.id)
	l.mu.Unlock()
	w.sink.OnClose(err)
}

// shutdown ends every watch and closes the eventfd; run closes the epoll
// descriptor after it.
func (l *Loop) shutdown(err error) {
	l.mu.Lock()
	l.closing = true // a failed epoll_wait gets here without Close
	ws := make([]*Watch, 0, len(l.watches))
	for _, w := range l.watches {
		ws = append(ws, w)
	}
	l.closeQ = nil
	l.mu.Unlock()
	for _, w := range ws {
		// Waits for a borrower to give the descriptor back: a fire that
		// reads its own reply ends within its deadline.
		w.svc.Lock()
		if w.closeReq.Load() {
			l.finish(w, ErrClosed)
		} else {
			l.finish(w, err)
		}
		w.svc.Unlock()
	}
	l.mu.Lock()
	unix.Close(l.evfd)
	l.evfd = -1
	l.mu.Unlock()
}
