// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLatencyBounds(t *testing.T) {
	if latencyBounds[0] != 10*time.Microsecond || latencyBounds[len(latencyBounds)-1] != 60*time.Second {
		t.Fatalf("bounds %v", latencyBounds)
	}
	for i := 1; i < len(latencyBounds); i++ {
		if latencyBounds[i] <= latencyBounds[i-1] {
			t.Fatalf("bounds not increasing at %d: %v", i, latencyBounds)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {10 * time.Microsecond, 0}, {10*time.Microsecond + 1, 1}, {25 * time.Microsecond, 1}, {25*time.Microsecond + 1, 2},
		{250 * time.Millisecond, 13}, {10 * time.Second, 18}, {25 * time.Second, 19},
		{time.Minute, len(latencyBounds) - 1}, {time.Minute + 1, len(latencyBounds)}, {time.Hour, len(latencyBounds)},
	} {
		if got := bucketFor(tt.d); got != tt.want {
			t.Errorf("bucketFor(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestMetricsPercentiles(t *testing.T) {
	m := NewHookMetrics()
	if s := m.Snapshot(); s.P50 != 0 || s.P99 != 0 || s.Fires != 0 {
		t.Fatalf("empty snapshot %+v", s)
	}
	// 90 fast fires at 100µs, 9 at 5ms, 1 at 2s.
	for range 90 {
		m.Observe("allow", 100*time.Microsecond)
	}
	for range 9 {
		m.Observe("deny", 5*time.Millisecond)
	}
	m.Observe("timeout", 2*time.Second)
	s := m.Snapshot()
	within := func(name string, got, lo, hi time.Duration) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %v, want within [%v, %v]", name, got, lo, hi)
		}
	}
	// Each estimate must land in the bucket holding the true value.
	within("P50", s.P50, 50*time.Microsecond, 100*time.Microsecond)
	within("P90", s.P90, 50*time.Microsecond, 100*time.Microsecond)
	within("P99", s.P99, 2500*time.Microsecond, 5000*time.Microsecond)
	if s.Max != 2*time.Second {
		t.Errorf("Max = %v", s.Max)
	}
	want := 90*100*time.Microsecond + 9*5*time.Millisecond + 2*time.Second
	if s.Sum != want {
		t.Errorf("Sum = %v, want %v", s.Sum, want)
	}
	if s.Fires != 100 || s.Outcomes["allow"] != 90 || s.Outcomes["deny"] != 9 || s.Timeouts != 1 || s.Drops != 0 {
		t.Errorf("counts %+v", s)
	}
	last := s.Buckets[len(s.Buckets)-1]
	if last.Count != 100 || last.UpperBound != time.Duration(math.MaxInt64) {
		t.Errorf("last bucket %+v, want cumulative 100 at +Inf", last)
	}
	for i := 1; i < len(s.Buckets); i++ {
		if s.Buckets[i].Count < s.Buckets[i-1].Count {
			t.Fatalf("buckets not cumulative: %+v", s.Buckets)
		}
	}

	// One value: every percentile is capped by it.
	one := NewHookMetrics()
	one.Observe("allow", 3*time.Millisecond)
	if s := one.Snapshot(); s.P50 > 3*time.Millisecond || s.P99 > 3*time.Millisecond || s.P99 < 2500*time.Microsecond {
		t.Errorf("single value percentiles %v %v", s.P50, s.P99)
	}

	// Beyond the last bound: the overflow bucket is bounded by the max seen.
	over := NewHookMetrics()
	over.Observe("allow", 2*time.Minute)
	if s := over.Snapshot(); s.P99 < time.Minute || s.P99 > 2*time.Minute {
		t.Errorf("overflow P99 = %v", s.P99)
	}
}

func TestMetricsOutcomes(t *testing.T) {
	m := NewHookMetrics()
	m.Observe("dropped", 0)
	m.Observe("dropped", time.Millisecond)
	m.Observe("oom_killed", time.Second)
	m.Observe("no-such-outcome", time.Second)
	m.Observe("allow", -time.Second) // clock weirdness is clamped, not a panic
	m.count("deadline_exhausted")
	m.Restart()
	m.Restart()
	s := m.Snapshot()
	if s.Drops != 2 || s.Outcomes["oom_killed"] != 1 || s.Outcomes["internal"] != 1 || s.Restarts != 2 {
		t.Errorf("snapshot %+v", s)
	}
	if s.Fires != 5 || s.Outcomes["deadline_exhausted"] != 1 {
		t.Errorf("a skip counts as an outcome, not a fire: %+v", s)
	}
	if _, ok := s.Outcomes["modify"]; ok {
		t.Error("zero outcomes are listed")
	}
	for _, k := range errorKindNames() {
		if _, ok := outcomeIndex[k]; !ok {
			t.Errorf("error kind %q has no counter", k)
		}
	}
}

// TestMetricsConcurrent is for -race: Observe and Snapshot run together.
func TestMetricsConcurrent(t *testing.T) {
	m := NewHookMetrics()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.Observe(outcomeNames[(g+i)%len(outcomeNames)], time.Duration(i)*time.Microsecond)
				if i%100 == 0 {
					m.Snapshot()
					m.Restart()
				}
			}
		}()
	}
	wg.Wait()
	s := m.Snapshot()
	var total uint64
	for _, n := range s.Outcomes {
		total += n
	}
	if s.Fires != 8000 || total != 8000 || s.Buckets[len(s.Buckets)-1].Count != 8000 || s.Restarts != 80 {
		t.Errorf("fires %d, outcomes %d, buckets %d, restarts %d", s.Fires, total, s.Buckets[len(s.Buckets)-1].Count, s.Restarts)
	}
	if s.Max != 999*time.Microsecond {
		t.Errorf("max %v", s.Max)
	}
}

func BenchmarkObserve(b *testing.B) {
	m := NewHookMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d time.Duration
		for pb.Next() {
			d += 37 * time.Microsecond
			m.Observe("allow", d%time.Second)
		}
	})
}

// Every bound is a round number of seconds, as /metrics prints it.
func TestBoundsAreRound(t *testing.T) {
	for _, bs := range [][]time.Duration{latencyBounds, cpuBounds} {
		for _, b := range bs {
			if sig := strings.TrimLeft(strings.ReplaceAll(strings.Split(strconv.FormatFloat(b.Seconds(), 'e', -1, 64), "e")[0], ".", ""), "0"); len(sig) > 2 {
				t.Errorf("bound %v is %g s, not a round number", b, b.Seconds())
			}
		}
	}
	for i, b := range memoryBounds {
		if b != int64(1<<20)<<i {
			t.Errorf("memory bound %d = %d, want %d MiB", i, b, 1<<i)
		}
	}
}

func TestObserveResources(t *testing.T) {
	m := NewHookMetrics()
	m.ObserveResources(3*time.Millisecond, 3<<20)
	m.ObserveResources(time.Minute, 8<<30)
	s := m.Snapshot()
	if s.ResourceFires != 2 || s.CPUSum != time.Minute+3*time.Millisecond || s.MemorySum != 3<<20+8<<30 {
		t.Fatalf("sums %+v", s)
	}
	// 3ms lands in (2.5ms, 5ms]; 3 MiB in (2 MiB, 4 MiB]; the rest beyond.
	if s.CPUBuckets[1].Count != 0 || s.CPUBuckets[2].Count != 1 || s.CPUBuckets[len(s.CPUBuckets)-1].Count != 2 {
		t.Errorf("cpu buckets %+v", s.CPUBuckets)
	}
	if s.MemoryBuckets[1].Count != 0 || s.MemoryBuckets[2].Count != 1 || s.MemoryBuckets[len(s.MemoryBuckets)-1].Count != 2 {
		t.Errorf("memory buckets %+v", s.MemoryBuckets)
	}
}
