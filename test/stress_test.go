// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

import (
	"sync"
	"testing"
	"time"
)

// TestForkingHookLeavesNothing: 1000 fires of a hook that forks a sleeping
// child and exits leave no zombie child of this process, no hook process,
// and no fd behind (the suite's fd leak check runs at the end).
func TestForkingHookLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 fires")
	}
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.hook("forker", "forker", "1")
		const fires, workers = 1000, 4
		jobs := make(chan int)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
			kids int
		)
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					d, _, err := s.fire(h, 10*time.Second, `{}`)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else if d.Delta["metadata"] != nil {
						kids++
					}
					mu.Unlock()
				}
			}()
		}
		for i := range fires {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		t.Logf("%s: %d fires in %v", s.kind, fires, time.Since(start))
		if len(errs) > 0 {
			t.Fatalf("%d of %d fires failed, first: %v", len(errs), fires, errs[0])
		}
		if kids != fires {
			t.Errorf("%d decisions reported children, want %d", kids, fires)
		}
		noHookProcsLeft(t, s.bin, 5*time.Second)
		if z := zombieChildren(); len(z) > 0 {
			t.Errorf("zombie children of the supervisor: %v", z)
		}
	})
}
