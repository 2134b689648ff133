// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hooksupd/hooksupd/ndjson"
)

// stdoutBufs are the read buffers of exec fires reading their child's
// stdout themselves: one per fire in flight.
var stdoutBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// pastDeadline is a read deadline in the past: it wakes a parked read.
var pastDeadline = time.Unix(1, 0)

// readStdout reads the child's stdout to EOF on the firing goroutine,
// into the run's stdout sink (the cap and its kill included), and closes
// it. The read is bounded by ctx and, once the direct child has exited
// (its exit pushed by Process.OnExit), by exitDrainBound: a process the
// hook left behind that holds stdout is then killed with the tree, and
// the read gives up killDrainBound later (lingering). err is ctx's error
// when ctx ended first.
func (r *execRun) readStdout(ctx context.Context, f *os.File) (lingering bool, err error) {
	defer f.Close()
	sink := stdoutSink{r}
	p := r.proc
	dl, _ := ctx.Deadline()
	bound := func(d time.Duration) time.Time {
		t := time.Now().Add(d)
		if !dl.IsZero() && dl.Before(t) {
			return dl
		}
		return t
	}
	_ = f.SetReadDeadline(dl)
	stopExit := p.OnExit(func() { _ = f.SetReadDeadline(bound(exitDrainBound)) })
	defer stopExit()
	if ctx.Done() != nil {
		stopCtx := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(pastDeadline) })
		defer stopCtx()
	}
	bp := stdoutBufs.Get().(*[]byte)
	defer stdoutBufs.Put(bp)
	buf := *bp
	killed := false
	for {
		n, err := f.Read(buf)
		if n > 0 {
			sink.OnData(buf[:n])
			continue
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			sink.OnClose(nil)
			return killed, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if cerr := ctx.Err(); cerr != nil || (!dl.IsZero() && !time.Now().Before(dl)) {
				sink.OnClose(ndjson.ErrClosed)
				if cerr == nil {
					cerr = context.DeadlineExceeded
				}
				return false, cerr
			}
			select {
			case <-p.Done():
			default:
				_ = f.SetReadDeadline(dl) // woken early: not for us
				continue
			}
			if killed {
				sink.OnClose(ndjson.ErrClosed)
				return true, nil
			}
			// Exited, and something still holds stdout.
			killed = true
			_ = p.Kill()
			_ = f.SetReadDeadline(bound(killDrainBound))
		default:
			sink.OnClose(err)
			return killed, nil
		}
	}
}
