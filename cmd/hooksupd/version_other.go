// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package main

// kernelMechanisms reports none outside Linux: the portable backend uses
// os/exec and process groups, and has no cgroups.
func kernelMechanisms() [][2]string {
	return [][2]string{{"backend", "portable (no cgroups outside Linux)"}}
}
