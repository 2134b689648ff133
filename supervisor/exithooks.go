// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"sync"
	"sync/atomic"
)

// exitHooks holds the callbacks of Process.OnExit: one exit notification
// per process, pushed by whoever reaps it (the pidfd watcher on Linux, the
// Wait goroutine of the portable backend), so a caller needs no goroutine
// or select of its own to learn of the exit.
type exitHooks struct {
	mu    sync.Mutex
	fired bool
	list  []*exitHook
}

type exitHook struct {
	fn    func()
	state atomic.Int32 // 0 pending, 1 started, 2 stopped
}

// add registers fn; when the exit already happened fn runs on a goroutine
// of its own (never on the caller's, which may hold locks fn takes).
func (e *exitHooks) add(fn func()) (stop func() bool) {
	h := &exitHook{fn: fn}
	e.mu.Lock()
	if e.fired {
		e.mu.Unlock()
		h.state.Store(1)
		go fn()
		return func() bool { return false }
	}
	e.list = append(e.list, h)
	e.mu.Unlock()
	return func() bool { return h.state.CompareAndSwap(0, 2) }
}

// fire runs every pending callback once, in registration order, on the
// calling goroutine (the reaper's), after the exit status is published.
func (e *exitHooks) fire() {
	e.mu.Lock()
	e.fired = true
	list := e.list
	e.list = nil
	e.mu.Unlock()
	for _, h := range list {
		if h.state.CompareAndSwap(0, 1) {
			h.fn()
		}
	}
}
