// SPDX-License-Identifier: Apache-2.0

//go:build linux

package ndjson

import (
	"os"

	"golang.org/x/sys/unix"
)

// Borrow takes the watch's descriptor away from the loop until [Watch.Return]:
// the loop stops reading it (it leaves the epoll set) and the caller reads
// it itself, non-blocking, feeding what it reads wherever it wants. It
// reports false when the watch has ended or is being closed; then nothing
// is borrowed.
//
// A request/reply exchange on one goroutine costs one wake-up where a
// reply read by the loop and handed over costs two (the loop's and the
// requester's): a daemon hook's round trip reads its reply this way.
//
// Borrow waits while the loop is servicing the watch (a read and its Sink
// calls), so it must not be called with a lock those Sink calls take.
// Between Borrow and Return the loop never blocks on the watch: a Close
// meanwhile takes effect at Return.
func (w *Watch) Borrow() (fd int, ok bool) {
	w.svc.Lock()
	if w.finished || w.closeReq.Load() {
		w.svc.Unlock()
		return -1, false
	}
	if err := unix.EpollCtl(w.l.epfd, unix.EPOLL_CTL_DEL, w.fd, nil); err != nil {
		w.svc.Unlock()
		return -1, false
	}
	w.borrowed = true
	return w.fd, true
}

// Return gives a borrowed descriptor back to the loop, which reads it
// again from the next readiness on (epoll is level-triggered: bytes left
// unread are reported at once). A Close requested meanwhile is carried
// out now.
func (w *Watch) Return() error {
	if !w.borrowed {
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP}
	setEventID(&ev, w.id)
	err := unix.EpollCtl(w.l.epfd, unix.EPOLL_CTL_ADD, w.fd, &ev)
	w.borrowed = false
	w.svc.Unlock()
	l := w.l
	if err != nil || w.closeReq.Load() {
		// Not back in the set (cannot happen but for a bug) or closed
		// while borrowed: the loop ends the watch.
		w.closeReq.Store(true)
		l.mu.Lock()
		if !l.closing {
			l.closeQ = append(l.closeQ, w)
			l.wakeLocked()
		}
		l.mu.Unlock()
	}
	if err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}
