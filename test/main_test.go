// SPDX-License-Identifier: Apache-2.0

//go:build unix

// Package test holds hooksupd's integration suites: they run the real
// test hook program (test/hooks/testhook) through the executors on every
// supervisor backend that works on this machine, and assert outcomes,
// process counts, fds and elapsed bounds.
package test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testhook.Cleanup()
	// Every test closes its registries and backends: every goroutine the
	// suite started (pipe loops, exit watchers, reapers) must be gone.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
