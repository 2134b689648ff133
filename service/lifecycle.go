// SPDX-License-Identifier: Apache-2.0

package service

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/hooksupd/hooksupd/config"
)

// Run is the service's main loop after Serve has started: SIGHUP reloads
// (off the loop, serialised), SIGTERM or SIGINT drains and stops (a second
// one cancels the fires still running), the systemd watchdog and STATUS=
// line are refreshed. It returns once the server has shut down: nil after
// a stop signal, the listener's error when serving failed.
func (s *Server) Run(sigs <-chan os.Signal, serveErr <-chan error, drain time.Duration) error {
	notify := s.notify
	var watchdog <-chan time.Time
	if iv := notify.watchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
		notify.watchdog()
	}
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.log.Info("SIGHUP: reloading the configuration")
				// Off the main loop: the keep-alives go on while daemon
				// hooks start. A storm of SIGHUPs coalesces: at most one
				// reload runs and one more is pending (it reads the file
				// as it is then), so no goroutine queues per signal.
				if s.hupPending.Swap(true) {
					continue
				}
				s.bg.Add(1)
				go func() {
					defer s.bg.Done()
					s.reloadMu.Lock()
					s.hupPending.Store(false)
					s.reloadMu.Unlock()
					_, _ = s.reload("SIGHUP")
				}()
				continue
			}
			s.log.Info("stopping", "signal", sig.String(), "drain_timeout", drain)
			s.stopWith(sigs, drain)
			return nil
		case err := <-serveErr:
			// The listener broke (not a shutdown): nothing can connect
			// any more, so stop and let systemd restart the service.
			s.log.Error("socket failed; stopping", "err", err)
			s.stopWith(sigs, drain)
			return fmt.Errorf("socket failed: %w", err)
		case <-watchdog:
			// Sent from the main loop, so a wedged loop (a hung reload)
			// stops the keep-alives and systemd restarts the service.
			notify.watchdog()
		case <-status.C:
			notify.status(s.StatusLine())
		}
	}
}

// stopWith shuts the server down; a second SIGTERM/SIGINT during the
// drain cancels the fires still running.
func (s *Server) stopWith(sigs <-chan os.Signal, drain time.Duration) {
	stop := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		for {
			select {
			case sig := <-sigs:
				if sig != syscall.SIGHUP {
					s.log.Warn("second stop signal: cancelling the fires in flight", "signal", sig.String())
					s.cancelFires(errShutdown)
				}
			case <-stop:
				return
			}
		}
	}()
	s.shutdown(drain)
	close(stop)
	<-watcher
	s.bg.Wait() // a reload in progress; it fails fast once the Dispatcher closes
}

// Listen returns the socket systemd passed (socket activation) or
// creates the configured one. sock is nil for a passed socket: systemd
// owns that file and keeps it across restarts.
func Listen(flagPath string, cfg config.ServerConfig, log *slog.Logger) (net.Listener, *Socket, string, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, nil, "", fmt.Errorf("socket activation: %w", err)
	}
	var passed []net.Listener
	for _, l := range lns {
		if l != nil {
			passed = append(passed, l)
		}
	}
	if len(passed) > 0 {
		ln, ok := passed[0].(*net.UnixListener)
		if !ok {
			for _, l := range passed {
				l.Close()
			}
			return nil, nil, "", fmt.Errorf("socket activation passed a %s socket; hooksupd needs a unix stream socket (ListenStream=/path)", passed[0].Addr().Network())
		}
		for _, l := range passed[1:] {
			log.Warn("socket activation: ignoring an extra socket", "addr", l.Addr().String())
			l.Close()
		}
		ln.SetUnlinkOnClose(false)
		log.Info("socket activation: using the socket systemd passed", "socket", ln.Addr().String())
		if flagPath != "" || cfg.Socket != "" {
			log.Debug("socket activation: --socket and [server] socket do not apply to a passed socket")
		}
		return ln, nil, ln.Addr().String(), nil
	}
	path := flagPath
	if path == "" {
		path = cfg.Socket
	}
	if path == "" {
		path = DefaultSocket
	}
	ln, sock, err := listen(path, cfg.SocketGroup)
	if err != nil {
		return nil, nil, "", err
	}
	return ln, sock, path, nil
}

// statusEvery is how often Run refreshes systemd's STATUS= line.
const statusEvery = 10 * time.Second
