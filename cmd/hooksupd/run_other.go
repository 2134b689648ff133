//go:build !unix

package main

// foregroundTTY is a no-op where there are no process groups and
// terminal job control.
func foregroundTTY(pid int) (restore func()) { return func() {} }
