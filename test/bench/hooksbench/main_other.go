// SPDX-License-Identifier: Apache-2.0

//go:build !linux

// Command hooksbench measures hooksupd against its baselines; the
// mechanisms it measures are Linux ones, so elsewhere it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hooksbench: Linux only (the supervisor's fast paths are Linux mechanisms)")
	os.Exit(1)
}
