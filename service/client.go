// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// ErrClientClosed is returned by a Client's calls once its connection is
// closed, by Close or because the server went away; the error also wraps
// the cause when there was one.
var ErrClientClosed = errors.New("hooksupd client: connection closed")

// maxReplyBytes bounds one reply line the client accepts. A fire reply
// carries at most the payload the server accepted (max_line_bytes, 1 MiB
// by default) plus the hooks' deltas and the trace; 64 MiB is far beyond
// any of that and still keeps a broken server from exhausting memory.
const maxReplyBytes = 64 << 20

// Client is a connection to a running `hooksupd serve`. It is safe for
// concurrent use: calls from many goroutines are pipelined on the one
// connection and each gets its own reply, matched by id, in whatever order
// the server finishes them.
type Client struct {
	nc net.Conn

	wmu sync.Mutex // serialises request lines

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan []byte
	err     error // set once the connection is gone
	done    chan struct{}
}

// Dial connects to the service's socket at path (DefaultSocket when
// empty).
func Dial(path string) (*Client, error) {
	return DialContext(context.Background(), path)
}

// DialContext is Dial bounded by ctx.
func DialContext(ctx context.Context, path string) (*Client, error) {
	if path == "" {
		path = DefaultSocket
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, pending: map[uint64]chan []byte{}, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

// Close closes the connection. Calls in flight return ErrClientClosed.
func (c *Client) Close() error {
	err := c.nc.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// FireRequest is one fire: an event, the namespaces the host resolved,
// and the payload (nil means {}).
type FireRequest struct {
	Event      string
	Namespaces []string
	Payload    json.RawMessage
	// Trace asks for the per-hook trace (FireReply.Hooks).
	Trace bool
}

// Fire fires an event through the service and returns the chain's
// result. A hook's failure is not an error: its fail_mode has turned it
// into a decision. The error is an *Error for an error reply
// (unknown_event, overloaded, ...), or the connection's failure.
func (c *Client) Fire(ctx context.Context, r FireRequest) (*FireReply, error) {
	req := wireRequest{Op: OpFire, Event: r.Event, Payload: r.Payload, Trace: r.Trace}
	switch len(r.Namespaces) {
	case 0:
	case 1:
		req.Namespace, _ = json.Marshal(r.Namespaces[0])
	default:
		req.Namespace, _ = json.Marshal(r.Namespaces)
	}
	var rep FireReply
	if err := c.call(ctx, &req, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// Ping checks that the service answers.
func (c *Client) Ping(ctx context.Context) error {
	var rep okReply
	return c.call(ctx, &wireRequest{Op: OpPing}, &rep)
}

// Status returns the service's status report. The service answers it only
// for root and for its own user.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var rep statusReply
	if err := c.call(ctx, &wireRequest{Op: OpStatus}, &rep); err != nil {
		return nil, err
	}
	if rep.Status == nil {
		return nil, errors.New("hooksupd client: status reply without a status")
	}
	return rep.Status, nil
}

// Reload makes the service re-read its config. An invalid config is an
// *Error with code invalid_config whose Details list every problem; the
// service keeps running the old one.
func (c *Client) Reload(ctx context.Context) (*ReloadReply, error) {
	var rep ReloadReply
	if err := c.call(ctx, &wireRequest{Op: OpReload}, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// wireRequest is a request line as the client writes it. ID is filled in
// by call.
type wireRequest struct {
	ID        uint64          `json:"id"`
	Op        string          `json:"op"`
	Event     string          `json:"event,omitempty"`
	Namespace json.RawMessage `json:"namespace,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Trace     bool            `json:"trace,omitempty"`
}

// replyHead is what every reply line is read for first.
type replyHead struct {
	ID    json.RawMessage `json:"id"`
	Error *errorBody      `json:"error"`
}

// call sends req and decodes its reply into out, bounded by ctx. A reply
// that arrives after ctx ended is dropped by the reader.
func (c *Client) call(ctx context.Context, req *wireRequest, out any) error {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.nextID++
	req.ID = c.nextID
	c.pending[req.ID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}

	line, err := json.Marshal(req)
	if err != nil {
		forget()
		return fmt.Errorf("hooksupd client: encoding the request: %w", err)
	}
	line = append(line, '\n')
	c.wmu.Lock()
	_, err = c.nc.Write(line)
	c.wmu.Unlock()
	if err != nil {
		forget()
		c.nc.Close() // a partial line leaves the stream unusable
		return fmt.Errorf("%w: %w", ErrClientClosed, err)
	}

	select {
	case b, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return err
		}
		var head replyHead
		if err := json.Unmarshal(b, &head); err != nil {
			return fmt.Errorf("hooksupd client: malformed reply: %w", err)
		}
		if head.Error != nil {
			return &Error{Code: head.Error.Code, Message: head.Error.Message, Details: head.Error.Details}
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("hooksupd client: malformed %s reply: %w", req.Op, err)
		}
		return nil
	case <-ctx.Done():
		forget()
		return ctx.Err()
	}
}

// readLoop hands every reply line to the call waiting for its id; when the
// connection ends it fails every call still waiting.
func (c *Client) readLoop() {
	defer close(c.done)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var cause error
	for {
		line, err := readLine(br, maxReplyBytes)
		if err != nil {
			cause = err
			break
		}
		var head replyHead
		if json.Unmarshal(line, &head) != nil {
			cause = errors.New("malformed reply line")
			break
		}
		id, err := strconv.ParseUint(string(head.ID), 10, 64)
		if err != nil {
			// An error reply about a request line the server could not
			// read carries a null id; no call can be told apart from
			// another then, which only a bug in this client causes.
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- line
		}
	}
	c.nc.Close()
	c.mu.Lock()
	c.err = ErrClientClosed
	if cause != nil && !errors.Is(cause, net.ErrClosed) {
		c.err = fmt.Errorf("%w: %w", ErrClientClosed, cause)
	}
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// readLine reads one line of at most max bytes, without its "\n"; the
// slice is the caller's.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > max+1 {
			return nil, fmt.Errorf("reply line exceeds %d bytes", max)
		}
		switch {
		case err == nil:
			return dropEOL(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}
