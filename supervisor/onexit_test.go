// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestConformanceOnExit: the exit is pushed once to every callback that
// was not stopped, after Done is closed; a callback registered after the
// exit still runs, once; stop reports whether it cancelled.
func TestConformanceOnExit(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh("read x; exit 3"))
		var ran, stopped atomic.Int32
		doneFirst := make(chan bool, 1)
		p.OnExit(func() {
			select {
			case <-p.Done():
				doneFirst <- true
			default:
				doneFirst <- false
			}
			ran.Add(1)
		})
		stop := p.OnExit(func() { stopped.Add(1) })
		if !stop() {
			t.Error("stop before the exit did not report a cancel")
		}
		if stop() {
			t.Error("second stop reported a cancel")
		}
		p.Stdin().Close() // read fails: the child exits
		select {
		case first := <-doneFirst:
			if !first {
				t.Error("callback ran before Done was closed")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no exit callback")
		}
		if st := cfWait(t, p, 10*time.Second); st.Code != 3 {
			t.Errorf("status %+v", st)
		}
		late := make(chan struct{})
		stopLate := p.OnExit(func() { close(late) })
		select {
		case <-late:
		case <-time.After(10 * time.Second):
			t.Fatal("a callback registered after the exit did not run")
		}
		if stopLate() {
			t.Error("stop of a callback that ran reported a cancel")
		}
		time.Sleep(20 * time.Millisecond)
		if ran.Load() != 1 || stopped.Load() != 0 {
			t.Errorf("callbacks ran %d / stopped one ran %d, want 1 / 0", ran.Load(), stopped.Load())
		}
	})
}
