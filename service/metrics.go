// SPDX-License-Identifier: Apache-2.0

package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics of `hooksupd serve`, on [server] metrics_listen. The
// collector reads a Dispatcher.Status snapshot and the server's counters
// at scrape time, so the fire path pays nothing for them.

var hookLabels = []string{"hook", "event"}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("hooksupd_"+name, help, labels, nil)
}

var (
	descBuildInfo = newDesc("build_info", "Always 1; labels say the version and the mechanisms the backend chose.",
		"version", "backend", "cgroup_mode", "kill")
	descHookFires = newDesc("hook_fires_total",
		"Fires of each hook by outcome: allow, modify, deny, ask_user, or the error kind (timeout, oom_killed, spawn, deadline_exhausted for a hook skipped because the class deadline ran out, ...).",
		"hook", "event", "outcome")
	descHookDuration = newDesc("hook_duration_seconds", "Latency of each hook's fires.", hookLabels...)
	descHookTimeouts = newDesc("hook_timeouts_total", "Fires that ran out of time (the tree was killed).", hookLabels...)
	descHookOOM      = newDesc("hook_oom_kills_total", "Fires killed by the hook's memory limit.", hookLabels...)
	descHookSpawn    = newDesc("hook_spawn_failures_total", "Fires whose child could not be started.", hookLabels...)
	descHookDrops    = newDesc("hook_drops_total", "Fires that found no slot (max_concurrency) within their deadline.", hookLabels...)
	descHookSvRetry  = newDesc("hook_supervisor_retries_total", "Starts of the hook that failed in the supervisor's own machinery (not the hook's) and were tried again; a fire that still failed has outcome \"supervisor\".", hookLabels...)
	descHookRestarts = newDesc("hook_daemon_restarts_total", "Restarts of the hook's daemon child.", hookLabels...)
	descHookUp       = newDesc("hook_daemon_up", "1 while the daemon-mode hook's child runs.", hookLabels...)
	descHookMemory   = newDesc("hook_daemon_memory_bytes", "Memory of the daemon child's group now.", hookLabels...)
	descHookCPU      = newDesc("hook_daemon_cpu_seconds_total", "CPU time of the current daemon child's group (resets when the child restarts).", hookLabels...)
	descHookFireCPU  = newDesc("hook_cpu_seconds", "CPU time (user+system) of each exec fire's whole process tree, read from its group.", hookLabels...)
	descHookFireMem  = newDesc("hook_memory_peak_bytes", "Memory peak of each exec fire's whole process tree, read from its group.", hookLabels...)

	descInflight    = newDesc("fires_inflight", "Fires in flight over the socket.")
	descMaxInflight = newDesc("fires_inflight_max", "The max_inflight bound; fires beyond it get overloaded.")
	descViolations  = newDesc("timeout_violations_total", "Class deadlines exhausted before a hook, and hook timeouts.")
	descRequests    = newDesc("server_requests_total", "Request lines by op (invalid: lines that are not a valid request).", "op")
	descErrors      = newDesc("server_errors_total", "Error replies by code.", "code")
	descConns       = newDesc("server_connections", "Client connections open now.")
	descConnsTotal  = newDesc("server_connections_total", "Client connections accepted.")
	descSlow        = newDesc("server_slow_clients_closed_total", "Connections closed because the client did not read its replies.")
	descReloads     = newDesc("config_reloads_total", "Configuration reloads by result.", "result")
)

// collector is the prometheus.Collector of a server.
type collector struct{ s *Server }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuildInfo, descHookFires, descHookDuration, descHookTimeouts,
		descHookOOM, descHookSpawn, descHookDrops, descHookSvRetry, descHookRestarts, descHookUp, descHookMemory, descHookCPU,
		descHookFireCPU, descHookFireMem,
		descInflight, descMaxInflight, descViolations, descRequests, descErrors, descConns, descConnsTotal,
		descSlow, descReloads} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.d.Status()
	m := st.Mechanisms
	gauge := prometheus.GaugeValue
	counter := prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(descBuildInfo, gauge, 1, c.s.version, m.Backend, m.CgroupMode, m.Kill)
	for _, h := range st.Hooks {
		ms := h.Metrics
		lv := []string{h.Name, h.Event}
		// Every outcome from the start, zeros included: a rate() over an
		// outcome that has not happened yet is 0, not a missing series
		// that an alert cannot see.
		for _, outcome := range outcomeNames {
			ch <- prometheus.MustNewConstMetric(descHookFires, counter, float64(ms.Outcomes[outcome]), h.Name, h.Event, outcome)
		}
		buckets, count := durationBuckets(ms.Buckets)
		ch <- prometheus.MustNewConstHistogram(descHookDuration, count, seconds(ms.Sum), buckets, lv...)
		if h.Mode != "daemon" {
			cb, cn := durationBuckets(ms.CPUBuckets)
			ch <- prometheus.MustNewConstHistogram(descHookFireCPU, cn, seconds(ms.CPUSum), cb, lv...)
			mb := make(map[float64]uint64, len(ms.MemoryBuckets))
			var mn uint64
			for _, b := range ms.MemoryBuckets {
				mn = b.Count
				if b.UpperBound != math.MaxInt64 {
					mb[float64(b.UpperBound)] = b.Count
				}
			}
			ch <- prometheus.MustNewConstHistogram(descHookFireMem, mn, float64(ms.MemorySum), mb, lv...)
		}
		ch <- prometheus.MustNewConstMetric(descHookTimeouts, counter, float64(ms.Timeouts), lv...)
		ch <- prometheus.MustNewConstMetric(descHookOOM, counter, float64(ms.Outcomes["oom_killed"]), lv...)
		ch <- prometheus.MustNewConstMetric(descHookSpawn, counter, float64(ms.Outcomes["spawn"]), lv...)
		ch <- prometheus.MustNewConstMetric(descHookDrops, counter, float64(ms.Drops), lv...)
		ch <- prometheus.MustNewConstMetric(descHookSvRetry, counter, float64(ms.SupervisorRetries), lv...)
		if h.Mode == "daemon" {
			ch <- prometheus.MustNewConstMetric(descHookRestarts, counter, float64(ms.Restarts), lv...)
			up := 0.0
			if h.State.Running {
				up = 1
				ch <- prometheus.MustNewConstMetric(descHookMemory, gauge, float64(h.State.MemoryCurrent), lv...)
				ch <- prometheus.MustNewConstMetric(descHookCPU, counter, h.State.CPU.Seconds(), lv...)
			}
			ch <- prometheus.MustNewConstMetric(descHookUp, gauge, up, lv...)
		}
	}
	ch <- prometheus.MustNewConstMetric(descInflight, gauge, float64(s.inflight.Load()))
	ch <- prometheus.MustNewConstMetric(descMaxInflight, gauge, float64(s.maxInflight))
	ch <- prometheus.MustNewConstMetric(descViolations, counter, float64(st.TimeoutViolations))
	for op, n := range s.stats.requests {
		ch <- prometheus.MustNewConstMetric(descRequests, counter, float64(n.Load()), op)
	}
	for code, n := range s.stats.errors {
		ch <- prometheus.MustNewConstMetric(descErrors, counter, float64(n.Load()), code)
	}
	ch <- prometheus.MustNewConstMetric(descConns, gauge, float64(s.stats.connsOpen.Load()))
	ch <- prometheus.MustNewConstMetric(descConnsTotal, counter, float64(s.stats.connsTotal.Load()))
	ch <- prometheus.MustNewConstMetric(descSlow, counter, float64(s.stats.slowClosed.Load()))
	ch <- prometheus.MustNewConstMetric(descReloads, counter, float64(s.stats.reloadsOK.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descReloads, counter, float64(s.stats.reloadsFailed.Load()), "error")
}

// outcomeNames are the outcome labels of hook_fires_total.
var outcomeNames = executor.OutcomeNames()

// durationBuckets converts cumulative buckets to a Prometheus histogram's
// map and count (+Inf is implied by the count).
func durationBuckets(bs []executor.Bucket) (map[float64]uint64, uint64) {
	m := make(map[float64]uint64, len(bs))
	var count uint64
	for _, b := range bs {
		count = b.Count // cumulative: the last is the total
		if b.UpperBound == math.MaxInt64 {
			continue
		}
		m[seconds(b.UpperBound)] = b.Count
	}
	return m, count
}

// seconds converts with one division, so a round bound stays a round
// number (Duration.Seconds adds whole and fractional parts: 1.31072s
// would print as 1.3107199999999999).
func seconds(d time.Duration) float64 { return float64(d) / float64(time.Second) }

// MetricsServer serves /metrics over HTTP.
type MetricsServer struct {
	srv  *http.Server
	file *Socket // the unix socket it created, if any
	addr string
	done chan struct{}
}

// StartMetrics listens on addr (host:port, or a unix socket path when it
// starts with "/") and serves the server's metrics, Go runtime and process
// metrics included.
func StartMetrics(s *Server, addr string, log *slog.Logger) (*MetricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var (
		ln   net.Listener
		file *Socket
		err  error
	)
	if strings.HasPrefix(addr, "/") {
		ln, file, err = listen(addr, "")
	} else if ln, err = net.Listen("tcp", addr); err == nil {
		addr = ln.Addr().String() // the port chosen for ":0"
	}
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	if !strings.HasPrefix(addr, "/") && !loopbackOnly(ln.Addr()) {
		log.Warn("metrics endpoint reachable beyond this host: it has no authentication and shows hook names, "+
			"events and rates; listen on 127.0.0.1 or a unix socket path, or firewall the port (docs/metrics.md)",
			"addr", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Timeout:  10 * time.Second,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "hooksupd: metrics at /metrics")
	})
	m := &MetricsServer{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)},
		file: file,
		addr: addr,
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return m, nil
}

// loopbackOnly reports whether a TCP listener accepts only local
// connections (127.0.0.0/8, ::1); 0.0.0.0, :: and real addresses do not.
func loopbackOnly(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr is the address the endpoint listens on (the port chosen for ":0").
func (m *MetricsServer) Addr() string { return m.addr }

// Close stops the endpoint; a nil MetricsServer is a no-op.
func (m *MetricsServer) Close(ctx context.Context) {
	if m == nil {
		return
	}
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
	}
	<-m.done
	_ = m.file.Remove()
}
