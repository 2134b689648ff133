// SPDX-License-Identifier: Apache-2.0

//go:build !amd64

package main

const haveTSC = false

func rdtsc() uint64 { return 0 }
