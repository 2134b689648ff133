// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"math"
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram: the 1, 2.5,
// 5 series from 10µs to 25s, then 60s (twice the largest hook timeout),
// then an overflow bucket. Round bounds print as round numbers on
// /metrics (le="0.25", not le="0.26214399999999997") and line up with the
// budgets an alert states ("under 250ms"). Fixed bounds keep Observe
// lock-free and allocation-free; a ratio of at most 2.5 between bounds
// keeps the percentile error under one bucket width over seven decades.
var latencyBounds = func() []time.Duration {
	var b []time.Duration
	for d := 10 * time.Microsecond; d <= 10*time.Second; d *= 10 {
		b = append(b, d, d*5/2, d*5)
	}
	return append(b[:len(b)-1], 60*time.Second)
}()

// cpuBounds (CPU time of one exec fire's tree) and memoryBounds (its
// memory peak: 1 MiB to 4 GiB, doubling) bound the resource histograms.
var (
	cpuBounds = func() []time.Duration {
		var b []time.Duration
		for d := time.Millisecond; d <= 10*time.Second; d *= 10 {
			b = append(b, d, d*5/2, d*5)
		}
		return b
	}()
	memoryBounds = func() []int64 {
		var b []int64
		for m := int64(1 << 20); m <= 4<<30; m *= 2 {
			b = append(b, m)
		}
		return b
	}()
)

// outcomeNames lists every outcome Observe counts separately: the four
// actions, then every ErrorKind. Anything else is counted as "internal".
var outcomeNames = func() []string {
	out := []string{string(ActionAllow), string(ActionModify), string(ActionDeny), string(ActionAskUser)}
	return append(out, errorKindNames()...)
}()

var outcomeIndex = func() map[string]int {
	m := make(map[string]int, len(outcomeNames))
	for i, n := range outcomeNames {
		m[n] = i
	}
	return m
}()

// HookMetrics counts one hook's fires. Every method is lock-free and safe
// for concurrent use; Observe does not allocate.
type HookMetrics struct {
	fires    atomic.Uint64
	restarts atomic.Uint64
	svRetry  atomic.Uint64
	sumNs    atomic.Int64
	maxNs    atomic.Int64
	outcomes []atomic.Uint64 // indexed like outcomeNames
	buckets  []atomic.Uint64 // len(latencyBounds)+1; the last is overflow

	// The resources of exec fires whose tree's figures were read.
	resFires  atomic.Uint64
	cpuSumNs  atomic.Int64
	memSum    atomic.Int64
	cpuCounts []atomic.Uint64 // len(cpuBounds)+1
	memCounts []atomic.Uint64 // len(memoryBounds)+1
}

// NewHookMetrics returns zeroed metrics.
func NewHookMetrics() *HookMetrics {
	return &HookMetrics{
		outcomes:  make([]atomic.Uint64, len(outcomeNames)),
		buckets:   make([]atomic.Uint64, len(latencyBounds)+1),
		cpuCounts: make([]atomic.Uint64, len(cpuBounds)+1),
		memCounts: make([]atomic.Uint64, len(memoryBounds)+1),
	}
}

// OutcomeNames lists every outcome a hook's fires are counted by, in a
// fixed order: the four actions, then every error kind. Metrics export
// each at zero from the start, so a rate over an outcome that has not
// happened yet is 0, not absent.
func OutcomeNames() []string { return append([]string(nil), outcomeNames...) }

// ObserveResources records the CPU time and memory peak of one fire's
// process tree (exec hooks, read from the tree's group once it is gone).
func (m *HookMetrics) ObserveResources(cpu time.Duration, peak int64) {
	m.resFires.Add(1)
	m.cpuSumNs.Add(int64(max(cpu, 0)))
	m.memSum.Add(max(peak, 0))
	m.cpuCounts[upperIndex(cpuBounds, cpu)].Add(1)
	m.memCounts[upperIndex(memoryBounds, peak)].Add(1)
}

// upperIndex is the index of the first bound >= v, len(bounds) beyond.
func upperIndex[T time.Duration | int64](bounds []T, v T) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		mid := (lo + hi) / 2
		if v <= bounds[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Observe records one fire of the hook: its outcome (allow, modify, deny,
// ask_user, or an ErrorKind such as "timeout") and how long it took.
func (m *HookMetrics) Observe(outcome string, d time.Duration) {
	m.fires.Add(1)
	m.count(outcome)
	if d < 0 {
		d = 0
	}
	m.sumNs.Add(int64(d))
	for {
		cur := m.maxNs.Load()
		if int64(d) <= cur || m.maxNs.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	m.buckets[bucketFor(d)].Add(1)
}

// count records an outcome without a fire: the chain uses it for a hook it
// skipped because the class deadline had run out, so the skip is visible
// by category without a zero latency distorting the histogram.
func (m *HookMetrics) count(outcome string) {
	i, ok := outcomeIndex[outcome]
	if !ok {
		i = outcomeIndex["internal"]
	}
	m.outcomes[i].Add(1)
}

// Restart records a restart of the hook's daemon child.
func (m *HookMetrics) Restart() { m.restarts.Add(1) }

// SupervisorRetry records a start that failed in the supervisor's own
// machinery and was tried again.
func (m *HookMetrics) SupervisorRetry() { m.svRetry.Add(1) }

// bucketFor returns the latency histogram bucket of d (binary search).
func bucketFor(d time.Duration) int { return upperIndex(latencyBounds, d) }

// Bucket is one histogram bucket: the number of fires that took at most
// UpperBound, cumulative like a Prometheus histogram. The last bucket has
// UpperBound math.MaxInt64 (+Inf).
type Bucket struct {
	UpperBound time.Duration
	Count      uint64
}

// MetricsSnapshot is a point-in-time copy of a hook's metrics.
type MetricsSnapshot struct {
	// Fires counts the fires that were attempted (every outcome except a
	// deadline skip).
	Fires uint64
	// Outcomes counts by outcome: allow, modify, deny, ask_user and every
	// ErrorKind (deadline_exhausted counts skips). Zero counts are left out.
	Outcomes map[string]uint64
	// Drops counts fires that found no slot (ErrDropped).
	Drops uint64
	// Timeouts counts fires that ran out of time (ErrTimeout).
	Timeouts uint64
	// Restarts counts daemon restarts.
	Restarts uint64
	// SupervisorRetries counts starts that failed in the supervisor's own
	// machinery and were tried again (a final such failure is the
	// "supervisor" outcome).
	SupervisorRetries uint64
	// P50, P90 and P99 are latency percentiles estimated from the buckets
	// (linear within a bucket); zero before the first fire.
	P50, P90, P99 time.Duration
	// Max is the slowest fire; Sum is the total latency.
	Max, Sum time.Duration
	Buckets  []Bucket
	// Resources are the CPU and memory-peak histograms of exec fires
	// (ObserveResources); ResourceFires is 0 for a daemon hook.
	ResourceFires uint64
	CPUSum        time.Duration
	MemorySum     int64
	CPUBuckets    []Bucket // cumulative, UpperBound a CPU time; the last +Inf
	MemoryBuckets []ByteBucket
}

// ByteBucket is a cumulative bucket of a byte histogram; the last has
// UpperBound math.MaxInt64 (+Inf).
type ByteBucket struct {
	UpperBound int64
	Count      uint64
}

// Snapshot copies the counters. Counters are read one by one, so a
// snapshot taken during fires may be off by the fires in progress.
func (m *HookMetrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Fires:             m.fires.Load(),
		Restarts:          m.restarts.Load(),
		SupervisorRetries: m.svRetry.Load(),
		Outcomes:          make(map[string]uint64),
		Max:               time.Duration(m.maxNs.Load()),
		Sum:               time.Duration(m.sumNs.Load()),
		Buckets:           make([]Bucket, len(m.buckets)),
	}
	for i := range m.outcomes {
		if n := m.outcomes[i].Load(); n > 0 {
			s.Outcomes[outcomeNames[i]] = n
		}
	}
	s.Drops = s.Outcomes["dropped"]
	s.Timeouts = s.Outcomes["timeout"]
	counts := make([]uint64, len(m.buckets))
	var cum uint64
	for i := range m.buckets {
		counts[i] = m.buckets[i].Load()
		cum += counts[i]
		ub := time.Duration(math.MaxInt64)
		if i < len(latencyBounds) {
			ub = latencyBounds[i]
		}
		s.Buckets[i] = Bucket{UpperBound: ub, Count: cum}
	}
	s.ResourceFires = m.resFires.Load()
	s.CPUSum = time.Duration(m.cpuSumNs.Load())
	s.MemorySum = m.memSum.Load()
	s.CPUBuckets = make([]Bucket, len(m.cpuCounts))
	var c uint64
	for i := range m.cpuCounts {
		c += m.cpuCounts[i].Load()
		ub := time.Duration(math.MaxInt64)
		if i < len(cpuBounds) {
			ub = cpuBounds[i]
		}
		s.CPUBuckets[i] = Bucket{UpperBound: ub, Count: c}
	}
	s.MemoryBuckets = make([]ByteBucket, len(m.memCounts))
	c = 0
	for i := range m.memCounts {
		c += m.memCounts[i].Load()
		ub := int64(math.MaxInt64)
		if i < len(memoryBounds) {
			ub = memoryBounds[i]
		}
		s.MemoryBuckets[i] = ByteBucket{UpperBound: ub, Count: c}
	}
	s.P50 = percentile(counts, cum, 0.50, s.Max)
	s.P90 = percentile(counts, cum, 0.90, s.Max)
	s.P99 = percentile(counts, cum, 0.99, s.Max)
	return s
}

// percentile estimates the q-quantile from per-bucket counts, interpolating
// linearly inside the bucket the rank falls in. The estimate never exceeds
// the largest observed value, which also bounds the overflow bucket.
func percentile(counts []uint64, total uint64, q float64, maxSeen time.Duration) time.Duration {
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lower := time.Duration(0)
			if i > 0 {
				lower = latencyBounds[i-1]
			}
			upper := maxSeen
			if i < len(latencyBounds) && latencyBounds[i] < upper {
				upper = latencyBounds[i]
			}
			if upper < lower {
				return upper
			}
			frac := (rank - cum) / float64(c)
			return lower + time.Duration(frac*float64(upper-lower))
		}
		cum += float64(c)
	}
	return maxSeen
}
