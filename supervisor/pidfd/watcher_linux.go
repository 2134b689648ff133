// SPDX-License-Identifier: Apache-2.0

package pidfd

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Watcher observes process exits: one epoll set holding every watched
// pidfd and one goroutine that waits on it and runs the callbacks. A
// pidfd becomes readable when its process exits, so no goroutine or OS
// thread is blocked per child. The epoll fd is itself pollable and sits in
// the Go runtime's netpoller: the goroutine sleeps there instead of
// holding an OS thread in epoll_wait, and wakes without a thread hand-off.
type Watcher struct {
	ep   *os.File // the epoll set, registered with the runtime poller
	epfd int

	mu      sync.Mutex
	entries map[uint64]*entry
	byFD    map[*FD]uint64
	next    uint64
	closed  bool
	done    chan struct{}
}

type entry struct {
	p      *FD
	fd     int
	onExit func()
}

// NewWatcher creates the epoll set and starts its goroutine.
func NewWatcher() (*Watcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	w := &Watcher{
		ep:      os.NewFile(uintptr(epfd), "pidfd-watcher"),
		epfd:    epfd,
		entries: make(map[uint64]*entry),
		byFD:    make(map[*FD]uint64),
		next:    1,
		done:    make(chan struct{}),
	}
	rc, err := w.ep.SyscallConn()
	if err != nil {
		w.ep.Close()
		return nil, err
	}
	go w.loop(rc)
	return w, nil
}

// Add watches p: onExit runs once, on the watcher goroutine, when the
// process exits (it typically reaps with p.Wait, which then does not
// block). The FD stays open while it is watched, even if its owner closes
// it. onExit must not block for long and must not call Close.
func (w *Watcher) Add(p *FD, onExit func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	if _, ok := w.byFD[p]; ok {
		return errors.New("pidfd: already watched")
	}
	fd, err := p.acquire()
	if err != nil {
		return err
	}
	id := w.next
	w.next++
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, id)
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.release()
		return os.NewSyscallError("epoll_ctl", err)
	}
	w.entries[id] = &entry{p: p, fd: fd, onExit: onExit}
	w.byFD[p] = id
	return nil
}

// Remove stops watching p. Its callback will not start after Remove
// returns, but one the watcher already dispatched may still be running.
func (w *Watcher) Remove(p *FD) {
	w.mu.Lock()
	id, ok := w.byFD[p]
	if !ok {
		w.mu.Unlock()
		return
	}
	w.take(id)
	w.mu.Unlock()
	p.release()
}

// take unregisters id; w.mu must be held.
func (w *Watcher) take(id uint64) *entry {
	e := w.entries[id]
	if e == nil {
		return nil
	}
	delete(w.entries, id)
	delete(w.byFD, e.p)
	if !w.closed {
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
	}
	return e
}

// Len returns the number of watched pidfds.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.entries)
}

// Close stops the goroutine and closes the epoll set. Callbacks of pidfds
// still watched are not called. A second Close returns os.ErrClosed. It
// must not be called from a callback.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return os.ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	err := w.ep.Close() // wakes the loop
	<-w.done

	w.mu.Lock()
	rest := make([]*FD, 0, len(w.entries))
	for id, e := range w.entries {
		delete(w.entries, id)
		delete(w.byFD, e.p)
		rest = append(rest, e.p)
	}
	w.mu.Unlock()
	for _, p := range rest {
		p.release()
	}
	return err
}

func (w *Watcher) loop(rc syscall.RawConn) {
	defer close(w.done)
	events := make([]unix.EpollEvent, 64)
	for {
		n := 0
		err := rc.Read(func(fd uintptr) bool {
			for {
				k, err := unix.EpollWait(int(fd), events, 0)
				if err == unix.EINTR {
					continue
				}
				n = k
				return k != 0 // none ready: sleep in the netpoller
			}
		})
		if err != nil {
			return // closed
		}
		for i := range events[:n] {
			id := token(&events[i])
			w.mu.Lock()
			if w.closed {
				w.mu.Unlock()
				return
			}
			e := w.take(id)
			w.mu.Unlock()
			if e == nil {
				continue // removed meanwhile
			}
			e.onExit()
			e.p.release()
		}
	}
}

// setToken stores a 64-bit id in the event's user data (Fd and Pad are the
// two halves of epoll_data_t).
func setToken(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
