// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// foregroundTTY is a no-op where there are no process groups and
// terminal job control.
func foregroundTTY(pid int) (restore func()) { return func() {} }

// relayedSignals: only an interrupt reaches a process here.
var relayedSignals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}

func terminating(syscall.Signal) bool { return true }

type runSignals struct{ relay chan os.Signal }

func setupRunSignals() *runSignals {
	s := &runSignals{relay: make(chan os.Signal, 4)}
	signal.Notify(s.relay, os.Interrupt, syscall.SIGTERM)
	return s
}

func (s *runSignals) stop() { signal.Stop(s.relay) }

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGINT:
		return "INT"
	}
	return strconv.Itoa(int(sig))
}

func parseSignal(s string) (syscall.Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "KILL", "9":
		return syscall.SIGKILL, nil
	case "TERM", "15":
		return syscall.SIGTERM, nil
	case "INT", "2":
		return syscall.SIGINT, nil
	}
	return 0, fmt.Errorf("%q: invalid signal", s)
}

func executable(string, os.FileInfo) bool { return true }

func reraise(syscall.Signal) {}

func applyNice(int) error { return errors.New("not supported on this platform") }
