//go:build !linux

package executor

import "context"

// readReply reports false here: the ndjson loop reads every reply (see
// the Linux version).
func (c *daemonChild) readReply(ctx context.Context, reply <-chan daemonReply) (daemonReply, bool) {
	return daemonReply{}, false
}
