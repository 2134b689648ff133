package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// statusEvery is how often the systemd STATUS= line is refreshed.
const statusEvery = 10 * time.Second

func init() {
	register(&command{
		Name:     "serve",
		Synopsis: "serve [-c FILE] [--socket PATH] [--log-format text|json] [--log-level LEVEL]",
		Summary:  "run the service: fire hooks for clients of a unix socket (systemd Type=notify)",
		Help: `Runs hooksupd as a service. Host applications connect to a unix stream
socket and send newline-delimited JSON requests; each line is answered by
one reply line carrying the request's "id":
  {"id":1,"op":"fire","event":"pre_store","namespace":"team/a","payload":{...}}
  {"id":1,"decision":"allow"}
Other ops: ping, status (root or the service user), reload (same). The
protocol is described in PROTOCOL.md.

The socket is --socket, else [server] socket, else
/run/hooksupd/hooksupd.sock, created with mode 0660 and group
[server] socket_group; a socket passed by systemd (socket activation,
LISTEN_FDS) is used instead when present.

Signals: SIGHUP reloads the configuration (an invalid file keeps the
running one and logs every error); SIGTERM or SIGINT stops accepting,
lets fires in flight finish for [server] drain_timeout, stops every hook
child and removes the socket; a second SIGTERM cancels the drain.

Under systemd (Type=notify) it sends READY=1 once the socket listens and
daemon-mode hooks run, RELOADING=1/READY=1 around reloads, STOPPING=1,
a STATUS= summary, and WATCHDOG=1 when WatchdogSec= is set.

Exit status: 0 after a clean stop, 2 usage or configuration error, 1
any other error.`,
		Run: runServe,
	})
}

// serveFlags are serve's command-line options.
type serveFlags struct {
	config    string
	socket    string
	logFormat string
	logLevel  string
}

func runServe(args []string) int {
	c := commands["serve"]
	fs := newFlagSet(c)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "configuration `FILE` (default $HOOKSUPD_CONFIG, else "+defaultConfigPath+")")
	fs.alias("c", "config")
	fs.StringVar(&f.socket, "socket", "", "unix socket `PATH` to listen on (overrides [server] socket)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `FORMAT` on stderr: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "`LEVEL` of logs: debug, info, warn or error")
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("serve: unexpected argument %q\nTry '%s serve --help'.", pos[0], progName)
		return exitUsage
	}
	if f.socket != "" && (f.socket[0] != '/' || len(f.socket) > 107) {
		errorf("serve: --socket must be an absolute path of at most 107 bytes")
		return exitUsage
	}
	log, err := newServeLogger(f.logFormat, f.logLevel)
	if err != nil {
		errorf("serve: %v", err)
		return exitUsage
	}
	return serve(f, log)
}

// newServeLogger returns the service's logger on stderr (the journal
// under systemd).
func newServeLogger(format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q (want text or json)", format)
}

// serve runs the service until SIGTERM/SIGINT and returns the exit status.
func serve(f serveFlags, log *slog.Logger) int {
	if err := serveSupported(); err != nil {
		errorf("serve: %v", err)
		return exitInternal
	}
	path := configPath(f.config)
	cfg, ok := loadConfig("serve", path)
	if !ok {
		return exitUsage
	}
	notify := newNotifier(log)

	// Socket first: a second instance fails here, before it starts any
	// hook child.
	ln, sock, socketName, err := openListener(f.socket, cfg.Server, log)
	if err != nil {
		errorf("serve: %v", err)
		return exitInternal
	}
	defer func() {
		if err := sock.remove(); err != nil {
			log.Warn("removing the socket", "err", err)
		}
	}()

	d, err := executor.New(cfg, executor.Options{Logger: log})
	if err != nil {
		ln.Close()
		var ce *config.ConfigError
		if errors.As(err, &ce) || errors.Is(err, supervisor.ErrNotSupported) {
			printConfigError("serve", err)
			return exitUsage
		}
		errorf("serve: %v", err)
		return exitInternal
	}
	mech := d.Status().Mechanisms
	log.Info("hooksupd starting", "version", versionString(), "config", cfg.Path, "hooks", len(cfg.Hooks),
		"backend", mech.Backend, "cgroup_mode", mech.CgroupMode, "spawn", mech.Spawn, "kill", mech.Kill)

	pctx, cancel := context.WithTimeout(context.Background(), prestartTimeout)
	if err := d.Prestart(pctx); err != nil {
		log.Warn("daemon hooks not started; they retry at their next fire", "err", err)
	}
	cancel()

	srv := newServer(serverOptions{
		Dispatcher: d, ConfigPath: path, Server: cfg.Server, Logger: log,
		Notifier: notify, AdminUID: -1, SocketName: socketName,
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.serve(ln) }()

	var metrics *metricsServer
	if cfg.Server.MetricsListen != "" {
		metrics, err = startMetrics(srv, cfg.Server.MetricsListen, log)
		if err != nil {
			// Observability is not worth refusing to serve hooks over.
			log.Error("metrics endpoint not started", "err", err)
		} else {
			log.Info("metrics endpoint listening", "addr", metrics.addr)
		}
	}

	// Signals are caught before READY=1: a reload or stop that systemd
	// sends right after must not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)

	log.Info("listening", "socket", socketName)
	notify.ready(srv.statusLine())

	exit := srv.run(sigs, serveErr, notify, cfg.Server.DrainTimeout)

	closeCtx, closeCancel := context.WithTimeout(context.Background(), closeTimeout)
	defer closeCancel()
	metrics.close(closeCtx)
	if err := d.Close(closeCtx); err != nil {
		log.Error("stopping hook children", "err", err)
		exit = exitInternal
	}
	log.Info("hooksupd stopped")
	return exit
}

// run is the service's main loop: signals, the watchdog and the STATUS=
// refresh. It returns once the server has shut down.
func (s *server) run(sigs <-chan os.Signal, serveErr <-chan error, notify *notifier, drain time.Duration) int {
	var watchdog <-chan time.Time
	if iv := notify.watchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
		notify.watchdog()
	}
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	exit := exitOK
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.log.Info("SIGHUP: reloading the configuration")
				// Off the main loop: the keep-alives go on while daemon
				// hooks start. Reloads are serialised by reloadMu.
				s.bg.Add(1)
				go func() {
					defer s.bg.Done()
					_, _ = s.reload("SIGHUP")
				}()
				continue
			}
			s.log.Info("stopping", "signal", sig.String(), "drain_timeout", drain)
			s.stopWith(sigs, drain)
			return exit
		case err := <-serveErr:
			// The listener broke (not a shutdown): nothing can connect
			// any more, so stop and let systemd restart the service.
			s.log.Error("socket failed; stopping", "err", err)
			s.stopWith(sigs, drain)
			return exitInternal
		case <-watchdog:
			// Sent from the main loop, so a wedged loop (a hung reload)
			// stops the keep-alives and systemd restarts the service.
			notify.watchdog()
		case <-status.C:
			notify.status(s.statusLine())
		}
	}
}

// stopWith shuts the server down; a second SIGTERM/SIGINT during the
// drain cancels the fires still running.
func (s *server) stopWith(sigs <-chan os.Signal, drain time.Duration) {
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

// openListener returns the socket systemd passed (socket activation) or
// creates the configured one. sock is nil for a passed socket: systemd
// owns that file and keeps it across restarts.
func openListener(flagPath string, cfg config.ServerConfig, log *slog.Logger) (net.Listener, *socketFile, string, error) {
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
		path = "/run/hooksupd/hooksupd.sock"
	}
	ln, sock, err := listenSocket(path, cfg.SocketGroup)
	if err != nil {
		return nil, nil, "", err
	}
	return ln, sock, path, nil
}
