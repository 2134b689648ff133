// SPDX-License-Identifier: Apache-2.0

package service

import (
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifier tells systemd (Type=notify) about the service's state over
// $NOTIFY_SOCKET: READY=1 once the socket listens and daemon hooks run,
// RELOADING=1 and READY=1 around a reload, STOPPING=1 at shutdown, a
// one-line STATUS=, and WATCHDOG=1 keep-alives. Without $NOTIFY_SOCKET
// every method is a no-op. A nil *notifier is valid and sends nothing.
type notifier struct {
	log     *slog.Logger
	enabled bool
	mu      sync.Mutex // keeps datagrams in call order
	warned  bool
}

func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// send sends one datagram; a failure is logged once (systemd may simply
// not be listening, e.g. a NOTIFY_SOCKET inherited by mistake).
func (n *notifier) send(state string) {
	if n == nil || !n.enabled {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := daemon.SdNotify(false, state); err != nil && !n.warned {
		n.warned = true
		n.log.Warn("systemd notify failed", "err", err)
	}
}

// statusField renders STATUS= on one line, as systemctl shows it.
func statusField(s string) string {
	return "STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}

func (n *notifier) ready(status string) { n.send("READY=1\n" + statusField(status)) }

func (n *notifier) status(status string) { n.send(statusField(status)) }

// reloading announces a reload; MONOTONIC_USEC lets systemd (≥ 253) match
// the READY=1 that ends it.
func (n *notifier) reloading() {
	n.send(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec() + statusField("reloading the configuration"))
}

func (n *notifier) stopping(status string) {
	n.send(daemon.SdNotifyStopping + "\n" + statusField(status))
}

func (n *notifier) watchdog() { n.send(daemon.SdNotifyWatchdog) }

// watchdogInterval is how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, or 0 when systemd does not watch this process.
func (n *notifier) watchdogInterval() time.Duration {
	if n == nil || !n.enabled {
		return 0
	}
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd watchdog settings are invalid; not sending keep-alives", "err", err)
		return 0
	}
	return d / 2
}
