// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Client is everything the suite asks of a well-behaved client of the
// socket protocol (dist/PROTOCOL.md): one request in flight at a time,
// every reply read. Hostile clients do not go through it: they write raw
// bytes on purpose (attacks.go). dialClient is the one place that picks an
// implementation.
type Client interface {
	// Fire fires event with payload and returns the reply; trace asks for
	// the per-hook trace.
	Fire(event string, payload any, trace bool) (*Reply, error)
	// Call sends op ("ping", "status", "reload") and returns the reply.
	Call(op string) (*Reply, error)
	Close() error
}

// Reply is a decoded reply line.
type Reply struct {
	Decision string          `json:"decision"`
	Reason   string          `json:"reason"`
	Code     int             `json:"code"`
	OK       bool            `json:"ok"`
	Status   json.RawMessage `json:"status"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Hooks []struct {
		Name     string `json:"name"`
		Decision string `json:"decision"`
		Error    string `json:"error"`
		Ran      bool   `json:"ran"`
	} `json:"hooks"`
	Raw []byte `json:"-"`
}

// replyTimeout bounds one request: longer than any chain's deadline.
const replyTimeout = 20 * time.Second

func dialClient(sock string) (Client, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	return &lineClient{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// lineClient is a minimal newline-JSON client.
type lineClient struct {
	conn net.Conn
	r    *bufio.Reader
	id   int
}

func (c *lineClient) Fire(event string, payload any, trace bool) (*Reply, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	c.id++
	req := fmt.Sprintf(`{"id":%d,"op":"fire","event":%q,"payload":%s,"trace":%t}`, c.id, event, p, trace)
	return c.roundTrip(req)
}

func (c *lineClient) Call(op string) (*Reply, error) {
	c.id++
	return c.roundTrip(fmt.Sprintf(`{"id":%d,"op":%q}`, c.id, op))
}

func (c *lineClient) roundTrip(req string) (*Reply, error) {
	c.conn.SetDeadline(time.Now().Add(replyTimeout))
	if _, err := c.conn.Write([]byte(req + "\n")); err != nil {
		return nil, err
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	rep := &Reply{Raw: line}
	if err := json.Unmarshal(line, &head); err != nil {
		return rep, fmt.Errorf("reply is not JSON: %.120q", line)
	}
	if string(head.ID) != strconv.Itoa(c.id) {
		return rep, fmt.Errorf("reply id %s to request %d", head.ID, c.id)
	}
	if err := json.Unmarshal(line, rep); err != nil {
		return rep, fmt.Errorf("reply %.120q: %w", line, err)
	}
	return rep, nil
}

func (c *lineClient) Close() error { return c.conn.Close() }
