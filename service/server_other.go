// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package service

import (
	"fmt"
	"net"
	"runtime"

	"github.com/hooksupd/hooksupd/supervisor"
)

// errServeUnsupported explains why `hooksupd serve` runs on Linux only.
var errServeUnsupported = fmt.Errorf("hooksupd serve runs on Linux only (peer credentials over SO_PEERCRED, cgroup delegation, systemd); on %s use `hooksupd fire` or the Go library: %w",
	runtime.GOOS, supervisor.ErrNotSupported)

// getPeerCred cannot tell who the peer is here; every check that needs it
// fails closed.
func getPeerCred(net.Conn) (peerCred, error) { return peerCred{}, errServeUnsupported }

// Socket is the socket hooksupd created; there is none here.
type Socket struct{}

func listen(path, group string) (net.Listener, *Socket, error) {
	return nil, nil, errServeUnsupported
}

func (f *Socket) Remove() error { return nil }

// Supported reports why `hooksupd serve` cannot run here.
func Supported() error { return errServeUnsupported }
