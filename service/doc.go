// SPDX-License-Identifier: Apache-2.0

// Package service is hooksupd's socket service: the server that answers
// newline-delimited JSON requests (fire, ping, status, reload) on a unix
// socket for an executor.Dispatcher, the protocol's types and error codes,
// systemd notification, the Prometheus endpoint, and a Go client (Dial)
// that host applications and the hooksupd command share. The protocol is
// described in dist/PROTOCOL.md and defined only here.
//
// It holds no hook logic (that is package executor) and no command-line
// handling (that is cmd/hooksupd).
package service
