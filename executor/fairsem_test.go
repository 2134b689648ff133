// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// waiters counts fairSem's queued waiters.
func (s *fairSem) waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queue {
		n += len(q)
	}
	return n
}

// TestFairSemRoundRobin: with one slot held, client A queues five fires
// and then B one: B's fire is granted second, not sixth.
func TestFairSemRoundRobin(t *testing.T) {
	s := newFairSem(1)
	ctx := context.Background()
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 8)
	enqueue := func(client, name string) {
		n := s.waiters()
		go func() {
			if err := s.acquire(WithClient(ctx, client)); err != nil {
				t.Error(err)
				return
			}
			order <- name
		}()
		for s.waiters() == n {
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 5 {
		enqueue("A", fmt.Sprintf("A%d", i))
	}
	enqueue("B", "B0")
	var got []string
	for range 6 {
		s.release()
		got = append(got, <-order)
	}
	if want := "[A0 B0 A1 A2 A3 A4]"; fmt.Sprint(got) != want {
		t.Errorf("grant order %v, want %s", got, want)
	}
	s.release()
	if s.free != 1 || len(s.ring) != 0 || len(s.queue) != 0 {
		t.Errorf("after all releases: free %d ring %v queue %v", s.free, s.ring, s.queue)
	}
}

// TestFairSemCancel: a waiter whose context ends leaves the queue, and a
// slot granted to it as it gives up is passed on, not lost.
func TestFairSemCancel(t *testing.T) {
	s := newFairSem(1)
	if err := s.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.acquire(WithClient(ctx, "A")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire past its deadline: %v", err)
	}
	if s.waiters() != 0 || len(s.ring) != 0 {
		t.Fatalf("a cancelled waiter stayed queued: %v %v", s.queue, s.ring)
	}
	// Many racing cancels and releases: the count of slots is kept.
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if s.acquire(WithClient(ctx, "B")) == nil {
				s.release()
			}
		}()
		for s.waiters() == 0 {
			time.Sleep(10 * time.Microsecond)
		}
		cancel()
		s.release()
		<-done
		if err := s.acquire(context.Background()); err != nil { // the one slot is back
			t.Fatal(err)
		}
	}
	s.release()
	if s.free != 1 {
		t.Errorf("free %d after the races, want 1", s.free)
	}
}
