// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/executor"
)

// conn is one client connection. One goroutine at a time reads it and
// parses requests. A fire that arrives when nothing more has been read
// runs on the goroutine that read it; if it takes longer than
// readHandoff, a new goroutine goes on reading (so later requests are not
// held up behind a slow hook). Fires that arrive behind others in the
// same read each get a goroutine. Replies are written by whoever queues
// one while no one else is writing (no writer goroutine): the common fire
// costs one wake-up (the socket's) and no goroutine, where a reader, a
// fire goroutine and a writer cost three wake-ups and a goroutine start.
//
// Backpressure: at most maxPerConn fires of the connection are in flight
// or waiting to queue their reply, and the reader stops reading while
// that is reached, so a client that sends faster than its hooks answer is
// slowed down by its own socket buffer.
type conn struct {
	s    *Server
	nc   net.Conn
	peer peerCred
	log  *slog.Logger
	q    *replyQueue
	// wmu is held by the one goroutine writing queued replies.
	wmu sync.Mutex
	sem chan struct{}
	// pending counts this connection's fires that have not queued their
	// reply yet.
	pending  sync.WaitGroup
	stop     chan struct{} // closed when the server stops reading
	stopOnce sync.Once
	// fireCtx is the server's fire context marked with this connection,
	// so connections share a hook's max_concurrency slots round-robin.
	fireCtx context.Context
}

// run serves the connection: it is the first reader.
func (c *conn) run() {
	c.readLoop(newLineReader(c.nc, c.s.maxLine))
}

// finish runs on the last reader once the client is done (EOF), the
// server stops reading, or a write failed: it waits for the connection's
// fires, flushes their replies and closes.
func (c *conn) finish() {
	defer c.s.dropConn(c)
	c.s.readers.Done()
	// A client that half-closed (shutdown(SHUT_WR)) still gets every
	// reply; one that went away makes the writes fail, which is fine: the
	// fires themselves run to completion either way.
	c.pending.Wait()
	c.wmu.Lock() // a fire's goroutine may still be writing
	c.writeQueued()
	c.q.close()
	c.wmu.Unlock()
	_ = c.nc.Close()
	c.log.Debug("server: connection closed")
}

// stopReading makes the reader return at its next read.
func (c *conn) stopReading() {
	c.stopOnce.Do(func() {
		close(c.stop)
		_ = c.nc.SetReadDeadline(time.Now())
	})
}

func (c *conn) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// abort drops the queued replies and closes the socket.
func (c *conn) abort() {
	c.q.abort()
	_ = c.nc.Close()
}

// readLoop reads requests until the client is done or the server stops
// reading, then finishes the connection; or until it hands the reading to
// another goroutine to run a fire itself (see conn).
func (c *conn) readLoop(lr *lineReader) {
	for !c.stopped() {
		line, err := lr.next()
		if errors.Is(err, errLineTooLong) {
			c.s.stats.request("invalid")
			c.replyError(salvageID(line), &Error{Code: CodeTooLarge,
				Message: fmt.Sprintf("request line exceeds max_line_bytes (%d bytes)", c.s.maxLine)})
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.stopped() && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("server: reading from client", "err", err)
			}
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fire, ok := c.handle(line)
		if !ok {
			break
		}
		if fire == nil {
			continue
		}
		if lr.buffered() > 0 {
			// More requests are already here: they must not wait for
			// this fire.
			go c.runFire(fire)
			continue
		}
		if !c.fireInline(fire, lr) {
			return // the reading went on on another goroutine
		}
	}
	c.finish()
}

// readHandoff is how long a fire may run on the goroutine that read it
// before the reading of its connection goes on on a new goroutine: a
// request sent meanwhile waits at most this long, and the common fire
// (a daemon hook, tens of µs) starts no goroutine and grows no new stack.
const readHandoff = time.Millisecond

// fireInline runs fire on this goroutine. It reports whether this
// goroutine is still the connection's reader afterwards; when the fire
// outlasted readHandoff, a new goroutine has taken over reading lr.
func (c *conn) fireInline(fire *request, lr *lineReader) bool {
	var state atomic.Int32 // 0 firing, 1 reading handed off, 2 reading kept
	t := time.AfterFunc(readHandoff, func() {
		if state.CompareAndSwap(0, 1) {
			go c.readLoop(lr)
		}
	})
	c.runFire(fire)
	if !state.CompareAndSwap(0, 2) {
		return false
	}
	t.Stop()
	return true
}

// handle answers one request, or admits a fire and returns it (its slot
// taken) for the caller to run. It reports false when the reader must
// stop.
func (c *conn) handle(line []byte) (*request, bool) {
	s := c.s
	req, id, perr := parseRequest(line)
	if perr != nil {
		s.stats.request("invalid")
		c.replyError(id, perr)
		return nil, true
	}
	s.stats.request(req.Op)
	if !s.access.Load().allows(c.peer) {
		c.replyError(id, &Error{Code: CodeForbidden,
			Message: fmt.Sprintf("uid %d gid %d is not in allow_uids / allow_gids", c.peer.UID, c.peer.GID)})
		return nil, true
	}
	switch req.Op {
	case OpPing:
		c.reply(encodeReply(id, okReply{OK: true}))
	case OpStatus:
		if !s.isAdmin(c.peer) {
			c.replyError(id, forbiddenAdmin(req.Op, c.peer))
			return nil, true
		}
		c.reply(encodeReply(id, statusReply{Status: s.Status()}))
	case OpReload:
		if !s.isAdmin(c.peer) {
			c.replyError(id, forbiddenAdmin(req.Op, c.peer))
			return nil, true
		}
		cfg, perr := s.reload("socket")
		if perr != nil {
			c.replyError(id, perr)
			return nil, true
		}
		c.reply(encodeReply(id, ReloadReply{OK: true, Hooks: len(cfg.Hooks), Config: cfg.Path}))
	case OpFire:
		return c.admitFire(req)
	}
	return nil, true
}

func forbiddenAdmin(op string, p peerCred) *Error {
	return &Error{Code: CodeForbidden,
		Message: fmt.Sprintf("%s is only for root and the service's own user (peer uid %d)", op, p.UID)}
}

// admitFire takes a slot for the fire; it returns the request when the
// fire may run, nil when it was answered with an error, and false when
// the reader must stop.
func (c *conn) admitFire(req *request) (*request, bool) {
	s := c.s
	select {
	case c.sem <- struct{}{}:
	case <-c.stop:
		c.replyError(req.ID, &Error{Code: CodeInternal, Message: "server shutting down; fire not started"})
		return nil, false
	}
	if s.inflight.Add(1) > s.maxInflight {
		s.inflight.Add(-1)
		<-c.sem
		c.replyError(req.ID, &Error{Code: CodeOverloaded,
			Message: fmt.Sprintf("%d fires in flight (max_inflight); retry later", s.maxInflight)})
		return nil, true
	}
	c.pending.Add(1)
	s.fires.Add(1)
	return req, true
}

// runFire fires, queues the reply, and only then gives the connection's
// slot back: a client that does not read its replies runs out of slots
// and its reader stops.
func (c *conn) runFire(req *request) {
	s := c.s
	defer func() {
		<-c.sem
		c.pending.Done()
		s.fires.Done()
	}()
	start := time.Now()
	res, err := s.d.Fire(c.fireCtx, req.Event, req.namespaces, req.Payload)
	s.inflight.Add(-1)
	elapsed := time.Since(start)
	switch {
	case errors.Is(context.Cause(s.fireCtx), errShutdown):
		// A cancelled chain's result reflects the cancellation (fail_mode
		// open would read as allow): never send it as an answer.
		c.replyError(req.ID, &Error{Code: CodeInternal,
			Message: "fire cancelled: the server shut down before it finished"})
	case err != nil:
		c.replyError(req.ID, fireError(err))
	default:
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("fire", "event", req.Event, "fire_id", res.FireID, "outcome", string(res.Decision),
				"duration", elapsed, "hooks", len(res.Hooks))
		}
		c.reply(encodeFire(req.ID, res, req.Trace))
	}
}

// fireError maps Dispatcher.Fire's errors, which never carry hook output.
func fireError(err error) *Error {
	switch {
	case errors.Is(err, executor.ErrUnknownEvent):
		return &Error{Code: CodeUnknownEvent, Message: err.Error()}
	case errors.Is(err, executor.ErrBadPayload):
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, executor.ErrClosed):
		return &Error{Code: CodeInternal, Message: "server shutting down"}
	default:
		return &Error{Code: CodeInternal, Message: err.Error()}
	}
}

// reply queues b and writes the queue unless another goroutine is at it.
func (c *conn) reply(b []byte) {
	if c.q.push(b) {
		c.flush()
	}
}

func (c *conn) replyError(id json.RawMessage, e *Error) {
	c.s.stats.error(e.Code)
	c.reply(encodeError(id, e))
}

// flush writes queued replies when no other goroutine is writing. A
// writer re-checks the queue after it lets go, so a reply queued while it
// was finishing is never left behind.
func (c *conn) flush() {
	for c.q.waiting() && c.wmu.TryLock() {
		c.writeQueued()
		c.wmu.Unlock()
	}
}

// writeQueued writes everything queued, with wmu held, until the queue is
// empty or a write fails. A write that makes no progress for writeTimeout
// means the client has stopped reading: its connection is closed (and
// logged) so it cannot hold memory or fires' slots.
func (c *conn) writeQueued() {
	for {
		batch, ok := c.q.takeNow()
		if !ok {
			return
		}
		n := 0
		for _, b := range batch {
			n += len(b)
		}
		err := c.write(batch)
		c.q.written(n)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.stats.slowClosed.Add(1)
				c.log.Warn("server: closing a connection whose client has not read its replies",
					"unread_for", c.s.writeTimeout)
			} else {
				c.log.Debug("server: writing to client", "err", err)
			}
			c.abort()
			return
		}
	}
}

// write writes every buffer, allowing writeTimeout without progress.
func (c *conn) write(bufs net.Buffers) error {
	for len(bufs) > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
		n, err := bufs.WriteTo(c.nc)
		if err == nil {
			return nil
		}
		if n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // slow, but reading
		}
		return err
	}
	return nil
}

// replyQueue is a connection's queue of encoded replies, bounded in bytes
// of replies the client has not read: those queued and those in the
// writer's hands, until the socket took them. push blocks while the bound
// is passed, which holds the fire's connection slot, which stops the
// reader: a client that does not read its replies stops being read
// within a small bound, instead of having its requests executed until
// the write timeout. abort (a dead or stalled client) releases every
// pusher.
type replyQueue struct {
	mu      sync.Mutex
	items   [][]byte
	size    int // bytes queued or being written
	max     int
	closed  bool
	aborted bool
	ready   chan struct{} // capacity 1: something changed for the taker
	space   chan struct{} // closed and replaced when the taker empties the queue
	abortCh chan struct{}
}

func newReplyQueue(max int) *replyQueue {
	return &replyQueue{max: max, ready: make(chan struct{}, 1),
		space: make(chan struct{}), abortCh: make(chan struct{})}
}

func (q *replyQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push queues b; it reports false when the connection is gone. One reply
// larger than the bound is accepted into an empty queue.
func (q *replyQueue) push(b []byte) bool {
	for {
		q.mu.Lock()
		if q.aborted || q.closed {
			q.mu.Unlock()
			return false
		}
		if q.size == 0 || q.size+len(b) <= q.max {
			q.items = append(q.items, b)
			q.size += len(b)
			q.mu.Unlock()
			q.signal()
			return true
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-q.abortCh:
			return false
		}
	}
}

// take returns everything queued, waiting for something; false once the
// queue is closed and empty, or aborted.
func (q *replyQueue) take() (net.Buffers, bool) {
	for {
		if items, ok := q.takeNow(); ok {
			return items, true
		}
		q.mu.Lock()
		done := q.aborted || (q.closed && len(q.items) == 0)
		q.mu.Unlock()
		if done {
			return nil, false
		}
		<-q.ready
	}
}

// takeNow returns everything queued, or false when nothing is (or the
// queue was aborted).
func (q *replyQueue) takeNow() (net.Buffers, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.aborted || len(q.items) == 0 {
		return nil, false
	}
	items := q.items
	q.items = nil
	return items, true
}

// waiting reports whether replies wait to be written.
func (q *replyQueue) waiting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.aborted && len(q.items) > 0
}

// written tells the queue that n bytes the taker had were written to the
// socket: they no longer count against the bound.
func (q *replyQueue) written(n int) {
	q.mu.Lock()
	q.size -= n
	close(q.space)
	q.space = make(chan struct{})
	q.mu.Unlock()
}

// close lets the taker finish the queue and stop.
func (q *replyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// abort drops everything and releases pushers and the taker.
func (q *replyQueue) abort() {
	q.mu.Lock()
	if !q.aborted {
		q.aborted = true
		q.items, q.size = nil, 0
		close(q.abortCh)
	}
	q.mu.Unlock()
	q.signal()
}
