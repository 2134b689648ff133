// SPDX-License-Identifier: Apache-2.0

// Command tscfreq prints the frequency of this machine's time-stamp counter
// in kHz, measured against CLOCK_MONOTONIC, and exits 1 where it cannot.
//
// test-vm.sh passes the value to the guest kernel as tsc_early_khz=. Under
// QEMU's TCG the guest's TSC is the host's, but the guest kernel calibrates
// it against emulated timers, which on a busy host can be off by a factor
// of several; the guest clock then runs too fast or too slow. Without a
// reliable TSC the guest falls back to the HPET, where every clock read is
// a system call plus an emulated MMIO access, and Go programs (whose
// scheduler reads the clock constantly) run several times slower.
package main

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// span is how long one measurement lasts; three are taken.
const span = 100 * time.Millisecond

func main() {
	if !haveTSC {
		fmt.Fprintln(os.Stderr, "tscfreq: no time-stamp counter on this architecture")
		os.Exit(1)
	}
	var khz []uint64
	for range 3 {
		c0, t0 := pair()
		time.Sleep(span)
		c1, t1 := pair()
		if ns := t1.Sub(t0).Nanoseconds(); ns > 0 && c1 > c0 {
			khz = append(khz, (c1-c0)*1e6/uint64(ns))
		}
	}
	if len(khz) == 0 {
		os.Exit(1)
	}
	sort.Slice(khz, func(i, j int) bool { return khz[i] < khz[j] })
	fmt.Println(khz[len(khz)/2])
}

// pair reads the TSC and the monotonic clock at (nearly) the same instant:
// the tightest of many tries, so that a preemption between the two reads
// does not skew the result.
func pair() (uint64, time.Time) {
	var (
		best   uint64
		bestC  uint64
		bestT  time.Time
		chosen bool
	)
	for range 1000 {
		a := rdtsc()
		t := time.Now()
		b := rdtsc()
		if d := b - a; !chosen || d < best {
			best, bestC, bestT, chosen = d, a+d/2, t, true
		}
	}
	return bestC, bestT
}
