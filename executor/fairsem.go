// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"sync"
)

// clientKey is the context key of WithClient.
type clientKey struct{}

// WithClient marks ctx's fires as coming from client, any comparable
// value naming one caller (the service uses one per connection). Fires of
// different clients share a hook's max_concurrency slots round-robin, so a
// client that queues hundreds of fires gets one slot in turn with every
// other waiting client instead of all of them first. Fires without a
// client share one anonymous turn.
func WithClient(ctx context.Context, client any) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// fairSem is a counting semaphore whose waiters are served round-robin by
// client and first-come within a client. A plain channel semaphore is
// FIFO over all waiters, which lets one client's backlog decide everyone's
// wait.
type fairSem struct {
	mu    sync.Mutex
	free  int
	ring  []any // clients with waiters, in turn order
	queue map[any][]*semWaiter
}

type semWaiter struct {
	ch      chan struct{} // closed when granted
	granted bool          // under fairSem.mu
}

func newFairSem(n int) *fairSem {
	return &fairSem{free: n, queue: make(map[any][]*semWaiter)}
}

// acquire takes a slot, waiting for it until ctx is done.
func (s *fairSem) acquire(ctx context.Context) error {
	client := ctx.Value(clientKey{})
	s.mu.Lock()
	if s.free > 0 && len(s.ring) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &semWaiter{ch: make(chan struct{})}
	if len(s.queue[client]) == 0 {
		s.ring = append(s.ring, client)
	}
	s.queue[client] = append(s.queue[client], w)
	s.mu.Unlock()

	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.granted {
		// The slot arrived as ctx ended: pass it on.
		s.mu.Unlock()
		s.release()
		return ctx.Err()
	}
	q := s.queue[client]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	s.setQueue(client, q)
	s.mu.Unlock()
	return ctx.Err()
}

// release gives a slot back: to the head waiter of the next client in
// turn, which then goes to the end of the ring, or to the free count.
func (s *fairSem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) == 0 {
		s.free++
		return
	}
	client := s.ring[0]
	s.ring = s.ring[1:]
	q := s.queue[client]
	w := q[0]
	w.granted = true
	close(w.ch)
	if len(q) > 1 {
		s.queue[client] = q[1:]
		s.ring = append(s.ring, client)
	} else {
		delete(s.queue, client)
	}
}

// setQueue stores client's queue after a waiter left, dropping the client
// from the ring when it has no waiter left. Called with s.mu held.
func (s *fairSem) setQueue(client any, q []*semWaiter) {
	if len(q) > 0 {
		s.queue[client] = q
		return
	}
	delete(s.queue, client)
	for i, c := range s.ring {
		if c == client {
			s.ring = append(s.ring[:i:i], s.ring[i+1:]...)
			break
		}
	}
}
