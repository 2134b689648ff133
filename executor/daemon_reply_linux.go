//go:build linux

package executor

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// replyPollSlice bounds one wait of a fire reading its own reply, so that
// a reply handed over by another goroutine (an error from the exit
// watcher, Close) or a cancelled ctx is seen within it even when no byte
// arrives.
const replyPollSlice = 10 * time.Millisecond

// replyBufs are the read buffers of fires reading their own reply: one
// per fire in flight, none per idle daemon.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readReply reads the reply on the firing goroutine: it borrows the
// daemon's stdout from the ndjson loop, polls and reads it itself and
// feeds the child's splitter, whose onLine hands the line over through
// reply as when the loop reads it. One wake-up per reply instead of two
// (the loop's, then this goroutine's).
//
// It reports false when it could not settle the fire: stdout is not
// borrowable, reached EOF or failed (the loop then reads on and reports
// it), or ctx ended; the caller then waits on reply and ctx as usual.
func (c *daemonChild) readReply(ctx context.Context, reply <-chan daemonReply) (daemonReply, bool) {
	fd, ok := c.outW.Borrow()
	if !ok {
		return daemonReply{}, false
	}
	defer c.outW.Return()
	bp := replyBufs.Get().(*[]byte)
	defer replyBufs.Put(bp)
	buf := *bp
	dl, hasDL := ctx.Deadline()
	for {
		select {
		case rep := <-reply:
			return rep, true
		default:
		}
		if ctx.Err() != nil {
			return daemonReply{}, false
		}
		wait := replyPollSlice
		if hasDL {
			wait = min(wait, time.Until(dl)+time.Millisecond)
		}
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds[:], int(max(wait.Milliseconds(), 1)))
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			return daemonReply{}, false
		}
		m, err := unix.Read(fd, buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
		case err != nil || m == 0:
			return daemonReply{}, false // EOF or error: the loop's to report
		default:
			c.split.Feed(buf[:m])
		}
	}
}
