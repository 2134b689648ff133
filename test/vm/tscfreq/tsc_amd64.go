// SPDX-License-Identifier: Apache-2.0

package main

const haveTSC = true

// rdtsc returns the time-stamp counter (tsc_amd64.s).
func rdtsc() uint64
