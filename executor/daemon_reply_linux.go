// SPDX-License-Identifier: Apache-2.0

//go:build linux

package executor

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// replyBufs are the read buffers of fires reading their own reply: one
// per fire in flight, none per idle daemon.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// aLongTimeAgo is a read deadline in the past: it wakes a parked read.
var aLongTimeAgo = time.Unix(1, 0)

// openReplyReader keeps a second descriptor of the daemon's stdout in Go's
// runtime poller, for fires that read their own reply (readReply). The
// loop keeps reading the first one while no fire borrows it.
func (c *daemonChild) openReplyReader(stdout *os.File) {
	rc, err := stdout.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	rc.Control(func(raw uintptr) { fd, err = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0) })
	if err != nil || fd < 0 {
		return
	}
	// Non-blocking already (the open file description is shared), so
	// NewFile puts it in the runtime poller.
	c.replyFile = os.NewFile(uintptr(fd), "daemon-stdout")
}

// closeReplyReader releases what openReplyReader made.
func (c *daemonChild) closeReplyReader() {
	if c.replyFile != nil {
		c.replyFile.Close()
	}
}

// wakeReplyReader makes a fire parked in readReply look at its reply
// channel: someone else (a failure, Close) has answered it. Called with
// the executor's mu held.
func (c *daemonChild) wakeReplyReader() {
	if c.replyFile != nil && c.reading {
		c.replyFile.SetReadDeadline(aLongTimeAgo)
	}
}

// readReply reads the reply on the firing goroutine: it borrows the
// daemon's stdout from the ndjson loop and reads it through the runtime
// poller, feeding the child's splitter, whose onLine hands the line over
// through reply as when the loop reads it. One wake-up per reply instead
// of two (the loop's, then this goroutine's), and no thread blocked.
//
// It reports false when it could not settle the fire: no reply reader,
// stdout not borrowable, EOF or a read error (the loop then reads on and
// reports it), or ctx ended; the caller then waits on reply and ctx as
// usual.
func (c *daemonChild) readReply(ctx context.Context, reply <-chan daemonReply) (daemonReply, bool) {
	f := c.replyFile
	if f == nil {
		return daemonReply{}, false
	}
	if _, ok := c.outW.Borrow(); !ok {
		return daemonReply{}, false
	}
	defer c.outW.Return()
	d := c.d
	d.mu.Lock()
	c.reading = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		c.reading = false
		d.mu.Unlock()
	}()
	dl, _ := ctx.Deadline() // zero without one: no deadline
	if err := f.SetReadDeadline(dl); err != nil {
		return daemonReply{}, false
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(aLongTimeAgo) })
		defer stop()
	}
	bp := replyBufs.Get().(*[]byte)
	defer replyBufs.Put(bp)
	buf := *bp
	for {
		select {
		case rep := <-reply:
			return rep, true
		default:
		}
		if ctx.Err() != nil {
			return daemonReply{}, false
		}
		n, err := f.Read(buf)
		if n > 0 {
			c.split.Feed(buf[:n])
			continue
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Woken because the reply was handed over, or ctx ended (or
			// is about to: its deadline passed): the caller waits for
			// either.
			select {
			case rep := <-reply:
				return rep, true
			default:
			}
			if ctx.Err() != nil || (!dl.IsZero() && !time.Now().Before(dl)) {
				return daemonReply{}, false
			}
			f.SetReadDeadline(dl)
		case err == nil:
		case errors.Is(err, io.EOF):
			return daemonReply{}, false // the loop's to report
		default:
			return daemonReply{}, false
		}
	}
}
