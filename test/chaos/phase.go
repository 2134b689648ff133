// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// tally counts one phase's requests and what became of them.
type tally struct {
	mu       sync.Mutex
	sent     int // requests written
	answered int // a reply came back
	closed   int // the connection closed before the reply (the service went away or closed it)
	lost     int // neither within replyTimeout
	wrong    int // a well-behaved fire not answered by its hook's own answer
	firstBad string
	replied  map[string]bool // cids of good fires answered by their hook
	inDoubt  map[string]bool // cids of good fires whose connection closed
	daemon   []float64       // good daemon fire latencies, ms
	execLat  []float64       // good exec fire latencies, ms
	notes    []string
	// Longest reply and trace error seen from the crash-looping daemon.
	crashReason, crashTrace int
	// What the attacks did, for the notes.
	neverConns, neverFires, sighups, signals int
	// An attacker's own fires not answered by their hook (overload).
	attackerFailed int
}

func newTally() *tally {
	return &tally{replied: map[string]bool{}, inDoubt: map[string]bool{}}
}

func (t *tally) note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *tally) bad(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wrong++
	if t.firstBad == "" {
		t.firstBad = fmt.Sprintf(format, args...)
	}
}

// outcome files a request's fate from the client's error.
func (t *tally) outcome(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		t.answered++
	case isTimeout(err):
		t.lost++
		if t.firstBad == "" {
			t.firstBad = "no reply within " + replyTimeout.String()
		}
	default:
		t.closed++
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// phase is one stage of the campaign.
type phase struct {
	name string
	what string
	dur  time.Duration
	// good clients on the daemon and the exec hook
	goodDaemon, goodExec int
	// attack runs beside the good clients until ctx ends.
	attack func(ctx context.Context, r *run, t *tally)
	// after runs once the clients stopped, before the checks.
	after func(r *run, t *tally)
}

// phaseResult is one row of the phase table.
type phaseResult struct {
	name, what             string
	secs                   float64
	t                      *tally
	ranNoReply             int
	procsLeft              int
	leftRoles              string
	groups, strayGroups    int
	use                    serverUsage
	dP50, dP99, eP50, eP99 float64
	failures               []string
}

// runPhase runs p with its good clients and returns its row.
func (r *run) runPhase(p *phase, idx int) *phaseResult {
	t := newTally()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), p.dur)
	var wg sync.WaitGroup
	for i := range p.goodDaemon {
		wg.Go(func() { r.goodClient(ctx, t, fmt.Sprintf("g%d-d%d", idx, i), eventOf("good-daemon"), &t.daemon) })
	}
	for i := range p.goodExec {
		wg.Go(func() { r.goodClient(ctx, t, fmt.Sprintf("g%d-e%d", idx, i), eventOf("good-exec"), &t.execLat) })
	}
	if p.attack != nil {
		wg.Go(func() { p.attack(ctx, r, t) })
	}
	wg.Wait()
	cancel()
	if p.after != nil {
		p.after(r, t)
	}
	res := &phaseResult{name: p.name, what: p.what, secs: time.Since(start).Seconds(), t: t}
	r.check(res, idx)
	return res
}

// goodClient fires one well-behaved hook in a loop: one request at a time,
// every reply read; each fire carries a cid the hook records and echoes.
func (r *run) goodClient(ctx context.Context, t *tally, prefix, event string, lat *[]float64) {
	var c Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if c == nil {
			var err error
			if c, err = dialClient(r.sock); err != nil {
				time.Sleep(50 * time.Millisecond) // the service is restarting
				continue
			}
		}
		cid := fmt.Sprintf("%s-%d", prefix, n)
		t.mu.Lock()
		t.sent++
		t.mu.Unlock()
		t0 := time.Now()
		rep, err := c.Fire(event, map[string]string{"cid": cid}, false)
		ms := float64(time.Since(t0).Microseconds()) / 1000
		if err != nil && rep == nil {
			t.outcome(err)
			t.mu.Lock()
			t.inDoubt[cid] = true
			t.mu.Unlock()
			c.Close()
			c = nil
			continue
		}
		t.outcome(nil)
		if err != nil {
			t.bad("%s: %v", cid, err)
			continue
		}
		if rep.Decision != "deny" || rep.Reason != "chaos-ok "+cid {
			t.bad("%s: got %.200s", cid, rep.Raw)
			continue
		}
		t.mu.Lock()
		t.replied[cid] = true
		*lat = append(*lat, ms)
		t.mu.Unlock()
	}
}

// hostileFires fires the hostile hooks, each from its own connection,
// with traces, until ctx ends; any reply counts (the hook's failure is
// turned into allow by fail_mode), a lost request does not.
func (r *run) hostileFires(ctx context.Context, t *tally, hooks []string, conc int) {
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			var c Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for n := i; ctx.Err() == nil; n++ {
				if c == nil {
					var err error
					if c, err = dialClient(r.sock); err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				h := hooks[r.intn(len(hooks))]
				t.mu.Lock()
				t.sent++
				t.mu.Unlock()
				rep, err := c.Fire(eventOf(h), map[string]string{"cid": fmt.Sprintf("x-%s-%d", h, n)}, true)
				if err != nil && rep == nil {
					t.outcome(err)
					c.Close()
					c = nil
					continue
				}
				t.outcome(nil)
				if h == "crashloop" || h == "hang-daemon" {
					t.mu.Lock()
					t.crashReason = max(t.crashReason, len(rep.Raw))
					for _, hk := range rep.Hooks {
						t.crashTrace = max(t.crashTrace, len(hk.Error))
					}
					t.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

// ranSince returns the cids the hooks recorded since the last call.
func (r *run) ranSince() []string {
	f, err := os.Open(filepath.Join(r.dir, "ran.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(r.ranOffset, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		r.ranOffset += int64(len(line))
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return out
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
