// SPDX-License-Identifier: Apache-2.0

package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
)

// Defaults of the server's knobs that hooks.toml does not expose.
const (
	// defaultWriteTimeout is how long a client may leave its replies
	// unread (no write progress at all) before its connection is closed.
	defaultWriteTimeout = 10 * time.Second
	// defaultQueueBytes bounds the bytes of replies a connection's client
	// has not read (beyond what its socket buffer holds) before the server
	// stops reading its requests: a few hundred small replies. A larger
	// reply alone is still sent.
	defaultQueueBytes = 64 << 10
	// cancelGrace bounds the wait for fires cancelled at the end of the
	// drain: each runs its cleanup (kill the tree, reset the daemon).
	cancelGrace = 15 * time.Second
	// flushGrace bounds the final write of pending replies at shutdown.
	flushGrace = 3 * time.Second
)

// PrestartTimeout bounds starting the daemon children before the service
// reports ready, and again after a reload.
const PrestartTimeout = 30 * time.Second

// errShutdown is the cause of the fire context's cancellation.
var errShutdown = errors.New("server shutting down")

// serverOptions configure a server.
type Options struct {
	Dispatcher *executor.Dispatcher
	// ConfigPath is re-read by reload.
	ConfigPath string
	// Server is the [server] table the server started with.
	Server config.ServerConfig
	Logger *slog.Logger
	// Notify sends the service's state to systemd (sd_notify: READY=1,
	// RELOADING=1, STOPPING=1, STATUS=, the watchdog) when NOTIFY_SOCKET
	// is set; false sends nothing.
	Notify bool
	// WriteTimeout and QueueBytes: 0 means the defaults.
	WriteTimeout time.Duration
	QueueBytes   int
	// AdminUID is the uid allowed status and reload besides root; -1
	// means this process's effective uid.
	AdminUID int
	// SocketName is the listening socket's path, for status reports.
	SocketName string
	// Version is what status reports as the service's version.
	Version string
	// Warnings, when the Logger's handler is (or wraps) it, gives status
	// each hook's recent warnings.
	Warnings *RecentWarnings
}

// server answers the socket protocol for one Dispatcher.
type Server struct {
	d            *executor.Dispatcher
	log          *slog.Logger
	cfgPath      string
	notify       *notifier
	maxLine      int
	maxPerConn   int
	maxInflight  int64
	writeTimeout time.Duration
	queueBytes   int
	adminUID     uint32
	started      time.Time
	startCfg     config.ServerConfig
	// socketName is where clients connect, for status reports.
	socketName string
	version    string
	warnings   *RecentWarnings

	access atomic.Pointer[accessList]

	// fireCtx is the parent of every fire; it ends only when the drain at
	// shutdown times out.
	fireCtx     context.Context
	cancelFires context.CancelCauseFunc
	inflight    atomic.Int64
	fires       sync.WaitGroup

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*conn]struct{}
	shutting bool
	accepts  sync.WaitGroup // accept loops
	readers  sync.WaitGroup // connection read loops
	handlers sync.WaitGroup // whole connections

	reloadMu sync.Mutex
	// hupPending: a SIGHUP reload is started and has not begun reading
	// the config yet; later SIGHUPs join it.
	hupPending atomic.Bool
	bg         sync.WaitGroup // reloads started by SIGHUP
	stats      serverStats
}

func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = defaultQueueBytes
	}
	admin := o.AdminUID
	if admin < 0 {
		admin = os.Geteuid()
	}
	cfg := o.Server
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 1 << 20
	}
	if cfg.MaxInflightPerConn <= 0 {
		cfg.MaxInflightPerConn = 256
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 4096
	}
	s := &Server{
		d:            o.Dispatcher,
		log:          o.Logger,
		cfgPath:      o.ConfigPath,
		maxLine:      cfg.MaxLineBytes,
		maxPerConn:   cfg.MaxInflightPerConn,
		maxInflight:  int64(cfg.MaxInflight),
		writeTimeout: o.WriteTimeout,
		queueBytes:   o.QueueBytes,
		adminUID:     uint32(admin),
		started:      time.Now(),
		startCfg:     cfg,
		socketName:   o.SocketName,
		version:      o.Version,
		warnings:     o.Warnings,
		lns:          map[net.Listener]struct{}{},
		conns:        map[*conn]struct{}{},
	}
	if o.Notify {
		s.notify = newNotifier(o.Logger)
	}
	s.access.Store(newAccessList(cfg))
	s.fireCtx, s.cancelFires = context.WithCancelCause(context.Background())
	s.stats.init()
	return s
}

// Ready tells systemd the service is up (READY=1 with the status line).
func (s *Server) Ready() { s.notify.ready(s.StatusLine()) }

// Serve accepts connections on ln until shutdown closes it. It returns nil
// after shutdown, else the accept error that stopped it.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.accepts.Add(1)
	s.mu.Unlock()
	defer s.accepts.Done()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			shutting := s.shutting
			s.mu.Unlock()
			if shutting {
				return nil
			}
			if isTemporary(err) {
				// Out of fds or a connection reset before accept: wait
				// and go on, as net/http does, rather than stop serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("server: accept failed; retrying", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		s.startConn(nc)
	}
}

// isTemporary reports accept errors worth retrying.
func isTemporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// startConn registers nc and starts its goroutines.
func (s *Server) startConn(nc net.Conn) {
	cred, err := getPeerCred(nc)
	if err != nil {
		// Without credentials every check below fails closed.
		s.log.Warn("server: reading peer credentials", "err", err)
	}
	c := &conn{
		s:    s,
		nc:   nc,
		peer: cred,
		q:    newReplyQueue(s.queueBytes),
		sem:  make(chan struct{}, s.maxPerConn),
		stop: make(chan struct{}),
	}
	c.fireCtx = executor.WithClient(s.fireCtx, c)
	c.log = s.log.With("conn_uid", cred.UID, "conn_pid", cred.PID)
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	s.readers.Add(1)
	s.mu.Unlock()
	s.stats.connsOpen.Add(1)
	s.stats.connsTotal.Add(1)
	c.log.Debug("server: connection opened")
	go c.run()
}

func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.connsOpen.Add(-1)
	s.handlers.Done()
}

// shutdown stops accepting, stops reading requests, lets fires in flight
// finish for up to drain, cancels the rest, flushes their replies and
// closes every connection. The Dispatcher is left to the caller.
func (s *Server) shutdown(drain time.Duration) {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return
	}
	s.shutting = true
	s.notify.stopping(fmt.Sprintf("stopping: draining %d fires in flight", s.inflight.Load()))
	for ln := range s.lns {
		_ = ln.Close()
	}
	s.mu.Unlock()
	s.accepts.Wait()

	// No connection starts any more: stop reading on every one. Requests
	// already read are answered; the rest were never seen.
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.readers.Wait()

	if n := s.inflight.Load(); n > 0 {
		s.log.Info("server: draining fires in flight", "fires", n, "drain_timeout", drain)
	}
	if !waitTimeout(&s.fires, drain) {
		s.log.Warn("server: drain timeout; cancelling the fires still in flight", "fires", s.inflight.Load())
		s.cancelFires(errShutdown)
		if !waitTimeout(&s.fires, cancelGrace) {
			s.log.Error("server: cancelled fires still running", "fires", s.inflight.Load())
		}
	}
	if !waitTimeout(&s.handlers, flushGrace) {
		// Clients that do not read their last replies: close them now.
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		waitTimeout(&s.handlers, flushGrace)
	}
	s.cancelFires(errShutdown)
}

// stopping reports whether shutdown has begun.
func (s *Server) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutting
}

// waitTimeout waits for wg for at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// isAdmin reports whether p may use status and reload: root or the
// service's own user.
func (s *Server) isAdmin(p peerCred) bool {
	return p.Known && (p.UID == 0 || p.UID == s.adminUID)
}

// reload re-reads the config file and switches the Dispatcher to it. An
// invalid file leaves the running config in place; every error is logged
// and returned.
func (s *Server) reload(trigger string) (*config.Config, *Error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.stopping() {
		return nil, &Error{Code: CodeInternal, Message: "server shutting down; not reloading"}
	}
	s.notify.reloading()
	defer func() {
		line := s.StatusLine()
		// Under mu, so READY=1 never follows the STOPPING=1 that shutdown
		// sends: that would confuse systemd.
		s.mu.Lock()
		if !s.shutting {
			s.notify.ready(line)
		}
		s.mu.Unlock()
	}()

	cfg, err := config.Load(s.cfgPath)
	if err == nil {
		err = s.d.Reload(cfg)
	}
	if err != nil {
		s.stats.reloadsFailed.Add(1)
		lines := configErrorLines(err)
		for _, l := range lines {
			s.log.Error("reload: configuration error", "err", l)
		}
		s.log.Error("reload failed; still running the previous configuration",
			"path", s.cfgPath, "errors", len(lines), "trigger", trigger)
		code := CodeInvalidConfig
		if errors.Is(err, executor.ErrClosed) {
			code = CodeInternal
		}
		return nil, &Error{Code: code, Details: lines,
			Message: fmt.Sprintf("%d error(s) in %s; still running the previous configuration", len(lines), s.cfgPath)}
	}
	s.stats.reloadsOK.Add(1)
	s.access.Store(newAccessList(cfg.Server))
	s.warnServerChanges(cfg.Server)
	ctx, cancel := context.WithTimeout(context.Background(), PrestartTimeout)
	if err := s.d.Prestart(ctx); err != nil {
		s.log.Warn("reload: daemon hooks not started; they retry at their next fire", "err", err)
	}
	cancel()
	s.log.Info("reloaded the configuration", "path", s.cfgPath, "hooks", len(cfg.Hooks), "trigger", trigger)
	return cfg, nil
}

// warnServerChanges says which [server] changes a reload does not apply.
// allow_uids and allow_gids apply at once (to every request), so that
// revoking a client's access needs no restart.
func (s *Server) warnServerChanges(n config.ServerConfig) {
	o := s.startCfg
	var changed []string
	if n.Socket != o.Socket {
		changed = append(changed, "socket")
	}
	if n.SocketGroup != o.SocketGroup {
		changed = append(changed, "socket_group")
	}
	if n.MetricsListen != o.MetricsListen {
		changed = append(changed, "metrics_listen")
	}
	if n.MaxLineBytes != o.MaxLineBytes {
		changed = append(changed, "max_line_bytes")
	}
	if n.MaxInflightPerConn != o.MaxInflightPerConn {
		changed = append(changed, "max_inflight_per_conn")
	}
	if n.MaxInflight != o.MaxInflight {
		changed = append(changed, "max_inflight")
	}
	if n.DrainTimeout != o.DrainTimeout {
		changed = append(changed, "drain_timeout")
	}
	if len(changed) > 0 {
		s.log.Warn("reload: these [server] settings apply at the next start", "keys", changed)
	}
}

// configErrorLines renders a config error one line per problem.
func configErrorLines(err error) []string {
	var ce *config.ConfigError
	if errors.As(err, &ce) && len(ce.Errors) > 0 {
		out := make([]string, len(ce.Errors))
		for i, fe := range ce.Errors {
			out[i] = fe.Error()
		}
		return out
	}
	return []string{err.Error()}
}

// StatusLine is the one-line summary systemd shows as STATUS=.
func (s *Server) StatusLine() string {
	st := s.d.Status()
	enabled, daemons, up := 0, 0, 0
	var fires, errs uint64
	for _, h := range st.Hooks {
		if h.Enabled {
			enabled++
		}
		if h.Enabled && h.Mode == config.ModeDaemon {
			daemons++
			if h.State.Running {
				up++
			}
		}
		fires += h.Metrics.Fires
		errs += hookErrors(h.Metrics)
	}
	return fmt.Sprintf("%d hooks (%d/%d daemons up), %d fires, %d hook errors, %d connections",
		enabled, up, daemons, fires, errs, s.stats.connsOpen.Load())
}

// hookErrors counts a hook's fires that did not end in a decision.
func hookErrors(m executor.MetricsSnapshot) uint64 {
	var n uint64
	for outcome, c := range m.Outcomes {
		switch executor.Action(outcome) {
		case executor.ActionAllow, executor.ActionModify, executor.ActionDeny, executor.ActionAskUser,
			executor.Action(executor.KindSupervisor.String()): // the supervisor's failure, not the hook's
		default:
			n += c
		}
	}
	return n
}

// accessList is the [server] allow_uids / allow_gids policy.
type accessList struct {
	uids, gids []uint32
}

func newAccessList(c config.ServerConfig) *accessList {
	return &accessList{uids: c.AllowUIDs, gids: c.AllowGIDs}
}

// allows reports whether a peer may use the socket: anyone when both lists
// are empty (the socket's mode and group already decide who can connect),
// else a peer whose uid or primary gid is listed.
func (a *accessList) allows(p peerCred) bool {
	if len(a.uids) == 0 && len(a.gids) == 0 {
		return true
	}
	if !p.Known {
		return false
	}
	for _, u := range a.uids {
		if u == p.UID {
			return true
		}
	}
	for _, g := range a.gids {
		if g == p.GID {
			return true
		}
	}
	return false
}

// peerCred is who is at the other end of a connection (SO_PEERCRED).
type peerCred struct {
	UID, GID uint32
	PID      int32
	// Known is false where the platform cannot tell.
	Known bool
}

// serverStats are the server's own counters, for metrics and status.
type serverStats struct {
	connsOpen     atomic.Int64
	connsTotal    atomic.Uint64
	slowClosed    atomic.Uint64
	reloadsOK     atomic.Uint64
	reloadsFailed atomic.Uint64
	requests      map[string]*atomic.Uint64 // by op; "invalid" for unparsable lines
	errors        map[string]*atomic.Uint64 // by code
}

// requestKinds are the labels of serverStats.requests.
var requestKinds = []string{OpFire, OpPing, OpStatus, OpReload, "invalid"}

func (st *serverStats) init() {
	st.requests = make(map[string]*atomic.Uint64, len(requestKinds))
	for _, k := range requestKinds {
		st.requests[k] = new(atomic.Uint64)
	}
	st.errors = make(map[string]*atomic.Uint64, len(errorCodes))
	for _, c := range errorCodes {
		st.errors[c] = new(atomic.Uint64)
	}
}

func (st *serverStats) request(op string) {
	if c, ok := st.requests[op]; ok {
		c.Add(1)
	}
}

func (st *serverStats) error(code string) {
	if c, ok := st.errors[code]; ok {
		c.Add(1)
	}
}
