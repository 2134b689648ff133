// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package executor

import (
	"context"
	"os"
)

// On this platform the ndjson loop reads every reply (see the Linux
// version of readReply).

func (c *daemonChild) openReplyReader(stdout *os.File) {}

func (c *daemonChild) closeReplyReader() {}

func (c *daemonChild) wakeReplyReader() {}

func (c *daemonChild) readReply(ctx context.Context, reply <-chan daemonReply) (daemonReply, bool) {
	return daemonReply{}, false
}
