// SPDX-License-Identifier: Apache-2.0

//go:build !linux

// Command chaos is the reliability campaign of `make chaos`; it needs
// Linux (cgroups, pidfds, /proc).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "chaos: Linux only")
	os.Exit(2)
}
