// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// phaseList is the campaign, in order. Durations: full ≈ 7 min of phases
// (the whole run stays under 10 min), quick ≈ 30 s.
func (r *run) phaseList() []*phase {
	hostile := []string{"memhog", "fork", "spin", "flood", "hang", "escape", "junk", "crashloop", "hang-daemon"}
	var ps []*phase
	add := func(p *phase) { ps = append(ps, p) }
	add(&phase{name: "quiet", what: "well-behaved clients only (the reference latencies)",
		dur: r.dur(30*time.Second, 3*time.Second), goodDaemon: 2, goodExec: 2})
	add(&phase{name: "hostile-hooks", what: "memory hog, fork flood, CPU spin, 100 MiB stdout, hang, double fork + setsid, junk, crash-looping and silent daemons",
		dur: r.dur(60*time.Second, 4*time.Second), goodDaemon: 2, goodExec: 2,
		attack: func(ctx context.Context, r *run, t *tally) {
			var wg sync.WaitGroup
			wg.Go(func() { r.hostileFires(ctx, t, hostile, 4) })
			// One client hammers the crash-looping daemon: every fire
			// during its restart backoff fails fast, and its error text must stay bounded.
			wg.Go(func() { r.hostileFires(ctx, t, []string{"crashloop"}, 1) })
			wg.Wait()
		}})
	add(&phase{name: "hostile-clients", what: "malformed JSON, 2 MiB lines, connect-and-close, half-close, slow readers, pipelined fires",
		dur: r.dur(40*time.Second, 4*time.Second), goodDaemon: 2, goodExec: 1})
	add(&phase{name: "never-reader", what: fmt.Sprintf("one client pipelines %dk fires and never reads", r.never()/1000),
		dur: r.dur(10*time.Second, 4*time.Second), goodDaemon: 2, goodExec: 1,
		attack: func(ctx context.Context, r *run, t *tally) { r.neverReader(ctx, t, r.never()) }})
	add(&phase{name: "slow-pipeline", what: "one client keeps 512 fires of a slow exec hook in flight",
		dur: r.dur(30*time.Second, 3*time.Second), goodDaemon: 1, goodExec: 2})
	add(&phase{name: "reload-storm", what: "SIGHUP storm, broken and good configs in turn",
		dur: r.dur(40*time.Second, 3*time.Second), goodDaemon: 2, goodExec: 2,
		attack: func(ctx context.Context, r *run, t *tally) { r.reloadStorm(ctx, t) }})
	add(&phase{name: "eintr", what: "SIGWINCH/SIGURG at every service thread, group churn (tree kills, OOM)",
		dur: r.dur(60*time.Second, 4*time.Second), goodDaemon: 1, goodExec: 3,
		attack: func(ctx context.Context, r *run, t *tally) {
			var wg sync.WaitGroup
			wg.Go(func() { r.signalPressure(ctx, t) })
			wg.Go(func() { r.hostileFires(ctx, t, []string{"escape", "escape", "memhog", "fork"}, 3) })
			wg.Wait()
		}})
	add(&phase{name: "sigkill", what: "SIGKILL of the service mid-fire, then a restart",
		dur: r.dur(30*time.Second, 4*time.Second), goodDaemon: 1, goodExec: 1,
		attack: func(ctx context.Context, r *run, t *tally) { r.sigkillAttack(ctx, t) }})
	add(&phase{name: "mixed", what: "all of the above at random (seeded), overlapping",
		dur: r.dur(100*time.Second, 4*time.Second), goodDaemon: 2, goodExec: 2})
	for i, p := range ps {
		idx := i + 1
		switch p.name {
		case "hostile-clients":
			p.attack = func(ctx context.Context, r *run, t *tally) { r.hostileClients(ctx, t, idx) }
			p.after = func(r *run, t *tally) { r.strictProtocol() }
		case "slow-pipeline":
			p.attack = func(ctx context.Context, r *run, t *tally) { r.slowPipeline(ctx, t, idx) }
		case "mixed":
			p.attack = func(ctx context.Context, r *run, t *tally) { r.mixed(ctx, t, idx, hostile) }
		}
	}
	return ps
}

func (r *run) never() int {
	if r.quick {
		return 20000
	}
	return 100000
}

// phases runs the campaign and the checks that span it.
func (r *run) phases() error {
	r.warmup()
	r.settle(20 * time.Second)
	r.ranSince()
	r.base = r.usage(r.srv.pid)
	fmt.Printf("chaos: baseline after warm-up: %d fds, %d goroutines, %d threads, RSS %d MiB\n",
		r.base.fds, r.base.goroutines, r.base.threads, r.base.rssKB>>10)
	only := map[string]bool{}
	for _, n := range strings.Fields(strings.ReplaceAll(os.Getenv("CHAOS_PHASES"), ",", " ")) {
		only[n] = true
	}
	for i, p := range r.phaseList() {
		if len(only) > 0 && !only[p.name] && p.name != "quiet" {
			continue
		}
		res := r.runPhase(p, i+1)
		r.results = append(r.results, res)
		switch p.name {
		case "quiet":
			r.quietDaemonP50, r.quietExecP50 = res.dP50, res.eP50
		case "hostile-hooks":
			n, text := r.lastErrorLen()
			nest := strings.Count(text, "hook daemon unavailable")
			logMax := r.longestLogLine()
			worst := max(res.t.crashReason, res.t.crashTrace, n)
			r.assert("bounded-errors", "a daemon's error text is bounded and never nests (replies, status, logs)",
				"chaos phase hostile-hooks (crashloop, hang-daemon)", worst <= 4096 && logMax <= 8192 && nest <= 1,
				"longest reply %d B, trace error %d B, status last_error %d B (nested %d×), log line %d B",
				res.t.crashReason, res.t.crashTrace, n, nest, logMax)
		case "never-reader":
			r.aim("fair-never-reader", "a client that never reads does not slow others: their daemon p50 stays within 2× quiet",
				"chaos phase never-reader", res.dP50 <= 2*r.quietDaemonP50,
				"daemon p50 %.2f ms vs quiet %.2f ms (p99 %.2f vs %.2f)", res.dP50, r.quietDaemonP50, res.dP99, r.results[0].dP99)
		case "slow-pipeline":
			r.aim("fair-pipeline", "512 pipelined slow exec fires do not slow others: their exec p50 stays within 2× quiet",
				"chaos phase slow-pipeline", res.eP50 <= 2*r.quietExecP50,
				"exec p50 %.2f ms vs quiet %.2f ms (p99 %.2f vs %.2f)", res.eP50, r.quietExecP50, res.eP99, r.results[0].eP99)
		case "reload-storm":
			st, err := r.status()
			okN, failN := 0.0, 0.0
			if err == nil {
				srv, _ := st["server"].(map[string]any)
				okN, _ = srv["reloads_ok"].(float64)
				failN, _ = srv["reloads_failed"].(float64)
			}
			r.assert("reload-storm", "a reload storm applies good configs, refuses broken ones, and loses no fire",
				"chaos phase reload-storm", err == nil && okN > 0 && failN > 0 && len(res.failures) == 0,
				"reloads ok %v, refused %v; phase %s", okN, failN, verdictOf(res))
		case "eintr":
			n := r.logCount("interrupted system call")
			r.assert("eintr", "an interrupted kernel call never fails a fire; every good fire is answered by its hook",
				"chaos phase eintr; supervisor/cgroup TestNewGroupUnderSignals, TestEINTRRetriedEverywhere", res.t.wrong == 0 && n == 0,
				"%d good fires not answered by their hook; %d log lines with EINTR (whole run so far)", res.t.wrong, n)
		}
	}
	r.finalStop()
	r.checkRefuses()
	r.runSigkill()
	r.aggregate()
	return nil
}

// warmup fires every hook once, so that every pool exists before the
// baseline is taken.
func (r *run) warmup() {
	var wg sync.WaitGroup
	for _, h := range hookDefs {
		wg.Go(func() {
			c, err := dialClient(r.sock)
			if err != nil {
				return
			}
			defer c.Close()
			c.Fire(eventOf(h.name), map[string]string{"cid": "x-warm"}, false)
		})
	}
	wg.Wait()
}

// sigkillAttack kills the service while hostile and slow hooks run, checks
// what survives, restarts it, and checks the restart swept the rest.
func (r *run) sigkillAttack(ctx context.Context, t *tally) {
	hctx, hcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.hostileFires(hctx, t, []string{"fork", "escape", "hang", "spin", "good-slow"}, 6) })
	time.Sleep(r.dur(3*time.Second, time.Second))
	old := r.srv
	before := len(leftovers(r.marker, 0))
	_ = syscall.Kill(old.pid, syscall.SIGKILL)
	<-old.done
	hcancel()
	time.Sleep(time.Second)
	survivors := markedProcs(r.marker)
	roles := map[string]int{}
	for _, pi := range survivors {
		roles[pi.role]++
	}
	r.assert("no-orphans", "within 1 s of SIGKILL of `serve`, no process of any hook tree is left",
		"chaos phase sigkill", len(survivors) == 0,
		"%d of %d hook processes alive 1 s after SIGKILL (%s)", len(survivors), before, fmtCounts(roles))
	wg.Wait()
	if err := r.restart(); err != nil {
		t.note("restart failed: %v", err)
		return
	}
	alive := 0
	var stale []procInfo
	for _, pi := range survivors {
		if stillAlive(pi) {
			alive++
			stale = append(stale, pi)
		}
	}
	var oldLeft []string
	for _, root := range old.roots {
		if contains(r.srv.roots, root) {
			continue // the same name again: its groups are the new instance's
		}
		if _, err := os.Stat(root); err == nil {
			oldLeft = append(oldLeft, root)
		}
	}
	r.assert("restart-sweeps", "the next start sweeps whatever a killed instance left (processes and groups)",
		"chaos phase sigkill", alive == 0 && len(oldLeft) == 0,
		"%d of %d survivors alive after the restart; %d old subtrees left%s", alive, len(survivors), len(oldLeft), listOf(oldLeft))
	if alive > 0 {
		r.killLeftovers(stale)
	}
	t.note("killed pid %d with %d hook processes alive; restarted as pid %d", old.pid, before, r.srv.pid)
	<-ctx.Done()
}

// mixed starts attacks at random (from the seed), overlapping, until ctx
// ends.
func (r *run) mixed(ctx context.Context, t *tally, idx int, hostile []string) {
	var wg sync.WaitGroup
	var mu sync.Mutex // one reload storm at a time: they share the config file
	for k := 0; ctx.Err() == nil; k++ {
		kind := r.intn(9)
		sub, cancel := context.WithTimeout(ctx, time.Duration(500+r.intn(2500))*time.Millisecond)
		wg.Go(func() {
			defer cancel()
			switch kind {
			case 0:
				r.hostileFires(sub, t, hostile, 2)
			case 1:
				r.malformed(t)
			case 2:
				r.hugeLine(t)
			case 3:
				r.connectClose(t, 10)
			case 4:
				r.goodPipelined(t, fmt.Sprintf("g%d-mh-%d", idx, k), eventOf("good-daemon"), 1+r.intn(50), true, true, 0)
			case 5:
				r.goodPipelined(t, fmt.Sprintf("g%d-ms-%d", idx, k), eventOf("good-slow"), 64, false, false, 0)
			case 6:
				mu.Lock()
				r.reloadStorm(sub, t)
				mu.Unlock()
			case 7:
				r.signalPressure(sub, t)
			case 8:
				r.neverReader(sub, t, 5000)
			}
		})
		time.Sleep(time.Duration(200+r.intn(800)) * time.Millisecond)
	}
	wg.Wait()
}

// finalStop stops the service the clean way and checks nothing is left.
func (r *run) finalStop() {
	roots := r.srv.roots
	if os.Getenv("CHAOS_SIGQUIT") == "1" {
		// Debugging: the Go runtime writes every goroutine's stack to the
		// service's log (test/chaos/out/serve.log) and exits.
		_ = syscall.Kill(r.srv.pid, syscall.SIGQUIT)
		<-r.srv.done
	}
	err := r.srv.stop()
	time.Sleep(time.Second)
	left := markedProcs(r.marker)
	var rootsLeft []string
	for _, root := range roots {
		if _, e := os.Stat(root); e == nil {
			rootsLeft = append(rootsLeft, root)
		}
	}
	_, sockErr := os.Stat(r.sock)
	r.assert("clean-stop", "a clean stop (SIGTERM) exits 0 and leaves no process, group or socket",
		"chaos final stop", err == nil && len(left) == 0 && len(rootsLeft) == 0 && os.IsNotExist(sockErr),
		"exit %v; %d processes, %d subtrees left; socket removed: %v", errOr(err), len(left), len(rootsLeft), os.IsNotExist(sockErr))
}

// aggregate turns the per-phase checks into one row each.
func (r *run) aggregate() {
	type agg struct {
		id, promise string
		bad         func(*phaseResult) string
	}
	rows := []agg{
		{"no-loss", "every request gets a reply or a connection close (0 lost)", func(p *phaseResult) string {
			return cond(p.t.lost > 0, fmt.Sprintf("%d lost", p.t.lost))
		}},
		{"hook-answers", "a well-behaved fire is answered by its hook's own answer", func(p *phaseResult) string {
			return cond(p.t.wrong > 0, fmt.Sprintf("%d wrong", p.t.wrong))
		}},
		{"answer-delivered", "a hook that ran always has its reply sent", func(p *phaseResult) string {
			return cond(p.ranNoReply > 0, fmt.Sprintf("%d", p.ranNoReply))
		}},
		{"no-procs-left", "no hook process is left after a phase", func(p *phaseResult) string {
			return cond(p.procsLeft > 0, fmt.Sprintf("%d (%s)", p.procsLeft, p.leftRoles))
		}},
		{"no-groups-left", "no group is left holding a process after a phase", func(p *phaseResult) string {
			return cond(p.strayGroups > 0, fmt.Sprintf("%d", p.strayGroups))
		}},
		{"service-alive", "the service survives everything but SIGKILL", func(p *phaseResult) string {
			var s []string
			for _, f := range p.failures {
				if strings.HasPrefix(f, "the service died") || strings.HasPrefix(f, "restart") {
					s = append(s, f)
				}
			}
			return strings.Join(s, ", ")
		}},
		{"footprint", "the service's fds, goroutines and RSS return to baseline", func(p *phaseResult) string {
			var s []string
			for _, f := range p.failures {
				if strings.Contains(f, "baseline") {
					s = append(s, f)
				}
			}
			return strings.Join(s, ", ")
		}},
	}
	for _, a := range rows {
		var bad []string
		for _, p := range r.results {
			if s := a.bad(p); s != "" {
				bad = append(bad, p.name+": "+s)
			}
		}
		detail := "every phase"
		if len(bad) > 0 {
			detail = strings.Join(bad, "; ")
		}
		r.assert(a.id, a.promise, "every chaos phase", len(bad) == 0, "%s", detail)
	}
}

func cond(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func errOr(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func verdictOf(p *phaseResult) string {
	if len(p.failures) == 0 {
		return "ok"
	}
	return "FAIL: " + strings.Join(p.failures, "; ")
}
