// SPDX-License-Identifier: Apache-2.0

package ndjson

// Sink receives what a [Loop] reads from one watched file. Its methods run
// on the goroutine that reads the file (on Linux the one goroutine of the
// Loop, so one slow Sink delays every other watch), never concurrently for
// one watch.
type Sink interface {
	// OnData gets the next bytes read. It must not block, and p is valid
	// only during the call: copy what must outlive it (a [Splitter] does).
	OnData(p []byte)
	// OnClose is called exactly once, after the last OnData: with nil at
	// EOF, with ErrClosed when the watch ended because [Watch.Close] or
	// [Loop.Close] was called, or else with the read error.
	OnClose(err error)
}
