// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"math"
	"slices"
	"syscall"
	"time"
)

// batch is what one run of a variant measured: a latency per operation,
// the wall time of the batch, the driver's own CPU (all threads) and the
// CPU of the children it reaped.
type batch struct {
	lat      []time.Duration // successful operations only
	wall     time.Duration
	cpu      time.Duration
	childCPU time.Duration
	fails    int
	firstErr error
}

// samples accumulates batches of one variant over a whole section.
type samples struct {
	lat      []time.Duration
	wall     time.Duration
	cpu      time.Duration
	childCPU time.Duration
	ops      int
	fails    int
	firstErr error
}

func (s *samples) add(b batch) {
	s.lat = append(s.lat, b.lat...)
	s.wall += b.wall
	s.cpu += b.cpu
	s.childCPU += b.childCPU
	s.ops += len(b.lat) + b.fails
	s.fails += b.fails
	if s.firstErr == nil {
		s.firstErr = b.firstErr
	}
}

// tolerate turns a batch with some failed operations into a result: the
// failures are counted and reported with the row, not fatal. Only a batch
// in which every operation failed is an error.
func tolerate(b batch) (batch, error) {
	if b.fails > 0 && len(b.lat) == 0 {
		return b, b.firstErr
	}
	return b, nil
}

// pct returns the nearest-rank percentile p (0 < p ≤ 100) in µs: the
// smallest sample with at least p% of the samples at or below it.
func (s *samples) pct(p float64) float64 {
	if len(s.lat) == 0 {
		return math.NaN()
	}
	if !slices.IsSorted(s.lat) {
		slices.Sort(s.lat)
	}
	rank := int(math.Ceil(p / 100 * float64(len(s.lat))))
	rank = min(max(rank, 1), len(s.lat))
	return us(s.lat[rank-1])
}

// max returns the largest sample in µs.
func (s *samples) max() float64 { return s.pct(100) }

// cpuPerOp is the driver's CPU per operation in µs.
func (s *samples) cpuPerOp() float64 {
	if s.ops == 0 {
		return math.NaN()
	}
	return us(s.cpu) / float64(s.ops)
}

// rate is successful operations per second of wall time (throughput runs).
func (s *samples) rate() float64 {
	if s.wall <= 0 {
		return math.NaN()
	}
	return float64(len(s.lat)) / s.wall.Seconds()
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// rusageSelf returns the user+system CPU of this process, all threads.
func rusageSelf() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// rusageChildren returns the CPU of the reaped children.
func rusageChildren() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs n operations of op on this goroutine, one after another,
// timing each, and attributes this process's CPU to the batch.
func measure(n int, op func() error) (batch, error) {
	b := batch{lat: make([]time.Duration, 0, n)}
	c0, k0 := rusageSelf(), rusageChildren()
	t0 := time.Now()
	for range n {
		s := time.Now()
		err := op()
		d := time.Since(s)
		if err != nil {
			b.fails++
			if b.firstErr == nil {
				b.firstErr = err
			}
			continue
		}
		b.lat = append(b.lat, d)
	}
	b.wall = time.Since(t0)
	time.Sleep(settleCPU)
	b.cpu = rusageSelf() - c0
	b.childCPU = rusageChildren() - k0
	return tolerate(b)
}

// settleCPU is how long a batch's CPU window stays open after its last
// operation, so background work the batch caused (a launcher prepared
// for the next fire, a group recycled) is charged to it and not to the
// variant that runs next.
const settleCPU = 3 * time.Millisecond

// measureConc runs n operations of op spread over conc goroutines (closed
// loop: each goroutine starts its next operation when the last returns).
func measureConc(n, conc int, op func(worker int) error) (batch, error) {
	conc = max(1, min(conc, n))
	lats := make([][]time.Duration, conc)
	errs := make([]error, conc)
	fails := make([]int, conc)
	done := make(chan int, conc)
	c0, k0 := rusageSelf(), rusageChildren()
	t0 := time.Now()
	for w := range conc {
		share := n/conc + boolInt(w < n%conc)
		go func() {
			l := make([]time.Duration, 0, share)
			for range share {
				s := time.Now()
				err := op(w)
				d := time.Since(s)
				if err != nil {
					fails[w]++
					if errs[w] == nil {
						errs[w] = err
					}
					continue
				}
				l = append(l, d)
			}
			lats[w] = l
			done <- w
		}()
	}
	for range conc {
		<-done
	}
	b := batch{wall: time.Since(t0)}
	time.Sleep(settleCPU)
	b.cpu, b.childCPU = rusageSelf()-c0, rusageChildren()-k0
	for w := range conc {
		b.lat = append(b.lat, lats[w]...)
		b.fails += fails[w]
		if b.firstErr == nil {
			b.firstErr = errs[w]
		}
	}
	return tolerate(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
