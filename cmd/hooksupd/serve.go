// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/service"
	"github.com/hooksupd/hooksupd/supervisor"
)

func init() {
	register(&command{
		Name:     "serve",
		Synopsis: "serve [-c FILE] [--socket PATH] [--log-format auto|text|json|journal] [--log-level LEVEL]",
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
a STATUS= summary, and WATCHDOG=1 when WatchdogSec= is set. Its logs then
go to the journal natively: priorities from the levels and fields such as
HOOK=, EVENT=, FIRE_ID=, OUTCOME=, DURATION_USEC=, CHILD_PID= (see
docs/logging.md), so 'journalctl -u hooksupd -p warning' and
'journalctl HOOK=NAME' work.

Exit status: 0 after a clean stop, 2 usage or configuration error, 1
any other error.`,
		Run:  runServe,
		Args: argNone,
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
	fs.StringVar(&f.logFormat, "log-format", "auto", "log `FORMAT`: auto (journal under systemd, else text), text, json or journal")
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

// newServeLogger returns the service's logger: native journal entries
// under systemd, text or JSON on stderr elsewhere (service.NewLogHandler),
// behind the recorder of each hook's recent warnings for status.
func newServeLogger(format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", level)
	}
	h, _, err := service.NewLogHandler(format, l, os.Stderr)
	if err != nil {
		return nil, err
	}
	return slog.New(service.NewRecentWarnings(h)), nil
}

// recentWarnings is the recorder behind log, if it has one.
func recentWarnings(log *slog.Logger) *service.RecentWarnings {
	rw, _ := log.Handler().(*service.RecentWarnings)
	return rw
}

// serve runs the service until SIGTERM/SIGINT and returns the exit status.
func serve(f serveFlags, log *slog.Logger) int {
	if err := service.Supported(); err != nil {
		errorf("serve: %v", err)
		return exitInternal
	}
	path := configPath(f.config)
	cfg, ok := loadConfig("serve", path)
	if !ok {
		return exitUsage
	}
	// Socket first: a second instance fails here, before it starts any
	// hook child.
	ln, sock, socketName, err := service.Listen(f.socket, cfg.Server, log)
	if err != nil {
		errorf("serve: %v", err)
		return exitInternal
	}
	defer func() {
		if err := sock.Remove(); err != nil {
			log.Warn("removing the socket", "err", err)
		}
	}()

	// The backend hides the directory of the socket actually listened on
	// (--socket, socket activation) from hooks (executor.HiddenPaths).
	if filepath.IsAbs(socketName) {
		cfg.Server.Socket = socketName
	}
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

	pctx, cancel := context.WithTimeout(context.Background(), service.PrestartTimeout)
	if err := d.Prestart(pctx); err != nil {
		log.Warn("daemon hooks not started; they retry at their next fire", "err", err)
	}
	cancel()

	srv := service.New(service.Options{
		Dispatcher: d, ConfigPath: path, Server: cfg.Server, Logger: log,
		Notify: true, AdminUID: -1, SocketName: socketName, Version: versionString(),
		Warnings: recentWarnings(log),
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var metrics *service.MetricsServer
	if cfg.Server.MetricsListen != "" {
		metrics, err = service.StartMetrics(srv, cfg.Server.MetricsListen, log)
		if err != nil {
			// Observability is not worth refusing to serve hooks over.
			log.Error("metrics endpoint not started", "err", err)
		} else {
			log.Info("metrics endpoint listening", "addr", metrics.Addr())
		}
	}

	// Signals are caught before READY=1: a reload or stop that systemd
	// sends right after must not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)

	log.Info("listening", "socket", socketName)
	srv.Ready()

	exit := exitOK
	if err := srv.Run(sigs, serveErr, cfg.Server.DrainTimeout); err != nil {
		log.Error("stopping", "err", err)
		exit = exitInternal
	}

	closeCtx, closeCancel := context.WithTimeout(context.Background(), closeTimeout)
	defer closeCancel()
	metrics.Close(closeCtx)
	if err := d.Close(closeCtx); err != nil {
		log.Error("stopping hook children", "err", err)
		exit = exitInternal
	}
	log.Info("hooksupd stopped")
	return exit
}
