// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// invariant is one promise checked once per campaign (a row of the
// second table).
type invariant struct {
	id, promise, by string
	ok              bool
	detail          string
	// target: a latency target, shown met or not met; as in make bench
	// it does not change the exit status (timings depend on the host).
	target bool
}

func (r *run) assert(id, promise, by string, ok bool, format string, args ...any) {
	r.invariants = append(r.invariants, &invariant{id: id, promise: promise, by: by, ok: ok, detail: fmt.Sprintf(format, args...)})
}

// aim records a latency target.
func (r *run) aim(id, promise, by string, ok bool, format string, args ...any) {
	r.assert(id, promise, by, ok, format, args...)
	r.invariants[len(r.invariants)-1].target = true
}

// Footprint slack. A phase may leave the service with more groups and
// parked launchers than the baseline had (the pools grow under load and
// shrink when idle): each group keeps up to ~10 cgroup files open, each
// child 3 pipes, 2 launcher pipes and a pidfd. Beyond those, fds and
// goroutines must come back to the baseline within a small slack.
const (
	fdSlack        = 32
	fdsPerGroup    = 10
	fdsPerChild    = 6
	goroutineSlack = 24
)

// check settles the service and files the phase's row: the per-phase
// invariants.
func (r *run) check(res *phaseResult, idx int) {
	t := res.t
	if !r.srv.alive() {
		// Nothing but the sigkill phase kills it, and that one restarts
		// it: the service died by itself.
		res.failures = append(res.failures, fmt.Sprintf("the service died: %v", r.srv.err))
		fmt.Printf("chaos: the service died during %s: %v\n%s\n", res.name, r.srv.err, r.logTail(3000))
		if err := r.restart(); err != nil {
			res.failures = append(res.failures, "restart: "+err.Error())
			return
		}
	}
	r.settle(20 * time.Second)
	prefix := fmt.Sprintf("g%d-", idx)
	for _, cid := range r.ranSince() {
		if strings.HasPrefix(cid, prefix) && !t.replied[cid] && !t.inDoubt[cid] {
			res.ranNoReply++
		}
	}
	left := leftovers(r.marker, r.srv.pid)
	res.procsLeft = len(left)
	roles := map[string]int{}
	for _, pi := range left {
		roles[pi.role]++
	}
	res.leftRoles = fmtCounts(roles)
	res.groups, res.strayGroups, _ = groupCensus(r.srv.roots, r.srv.pid)
	res.use = r.usage(r.srv.pid)
	res.dP50, res.dP99 = pct(t.daemon, 50), pct(t.daemon, 99)
	res.eP50, res.eP99 = pct(t.execLat, 50), pct(t.execLat, 99)

	fail := func(format string, args ...any) { res.failures = append(res.failures, fmt.Sprintf(format, args...)) }
	if t.lost > 0 {
		fail("%d requests lost (%s)", t.lost, t.firstBad)
	}
	if t.wrong > 0 {
		fail("%d replies wrong, first: %s", t.wrong, t.firstBad)
	}
	if res.ranNoReply > 0 {
		fail("%d fires ran in their hook without the reply reaching the client", res.ranNoReply)
	}
	if res.procsLeft > 0 {
		fail("%d hook processes left (%s)", res.procsLeft, res.leftRoles)
	}
	if res.strayGroups > 0 {
		fail("%d groups hold processes that are no launcher or daemon", res.strayGroups)
	}
	if r.base.fds > 0 {
		if allowed := r.base.fds + fdSlack + fdsPerGroup*max(0, res.use.groups-r.base.groups) +
			fdsPerChild*max(0, res.use.children-r.base.children); res.use.fds > allowed {
			fail("%d fds, baseline %d (%d groups, %d children; now %d groups, %d children)",
				res.use.fds, r.base.fds, r.base.groups, r.base.children, res.use.groups, res.use.children)
		}
		if res.use.goroutines > r.base.goroutines+goroutineSlack {
			fail("%d goroutines, baseline %d", res.use.goroutines, r.base.goroutines)
		}
		if res.use.rssKB > max(2*r.base.rssKB, r.base.rssKB+64<<10) {
			fail("RSS %d MiB, baseline %d MiB", res.use.rssKB>>10, r.base.rssKB>>10)
		}
	}
	if t.neverConns > 0 {
		t.note("%d never-reading connection(s) wrote %d fires and read no reply", t.neverConns, t.neverFires)
	}
	if t.attackerFailed > 0 {
		t.note("%d of the pipelining attacker's own fires were not answered by their hook (timed out under its load)", t.attackerFailed)
	}
	if t.sighups > 0 {
		t.note("%d SIGHUPs, broken and good configs in turn", t.sighups)
	}
	if t.signals > 0 {
		t.note("%d signals (SIGWINCH, SIGURG) sent to the service's threads", t.signals)
	}
	verdict := "ok"
	if len(res.failures) > 0 {
		verdict = "FAIL: " + strings.Join(res.failures, "; ")
	}
	fmt.Printf("chaos: phase %-16s %5.1fs sent %6d answered %6d closed %4d lost %d wrong %d | left: %d procs, %d stray groups | fds %d goroutines %d RSS %d MiB | daemon p50 %.2f p99 %.2f ms, exec p50 %.2f p99 %.2f ms | %s\n",
		res.name, res.secs, t.sent, t.answered, t.closed, t.lost, t.wrong, res.procsLeft, res.strayGroups,
		res.use.fds, res.use.goroutines, res.use.rssKB>>10, res.dP50, res.dP99, res.eP50, res.eP99, verdict)
	for _, n := range t.notes {
		fmt.Printf("chaos:   %s\n", n)
	}
	if res.procsLeft > 0 || res.strayGroups > 0 {
		// Later phases must not inherit them: they are counted here, and
		// killed now (by pid: each is a process of this campaign's hooks).
		r.killLeftovers(left)
	}
}

// killLeftovers kills the processes of left that still run (a pid that
// was reused since is left alone).
func (r *run) killLeftovers(left []procInfo) {
	for _, pi := range left {
		if stillAlive(pi) {
			_ = syscallKill(pi.pid)
		}
	}
	time.Sleep(300 * time.Millisecond)
}

func fmtCounts(m map[string]int) string {
	var ks []string
	for k, v := range m {
		if k == "" {
			k = "other"
		}
		ks = append(ks, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// strictProtocol: requests that encoding/json's defaults accept
// but a strict decoder refuses.
func (r *run) strictProtocol() {
	cases := []struct{ name, line, want string }{
		{"duplicate op key", `{"id":1,"op":"ping","op":"reload"}`, "bad_request"},
		{"duplicate event key", `{"id":2,"op":"fire","event":"no_such","event":"chaos_good_exec","payload":{"cid":"x-dup"}}`, "bad_request"},
		{"case-folded key", `{"ID":3,"op":"ping"}`, "bad_request"},
		{"case-folded op key", `{"id":4,"OP":"ping"}`, "bad_request"},
		{"invalid UTF-8 in the id", "{\"id\":\"\xff\xfe\",\"op\":\"ping\"}", "bad_request"},
		{"id echoed byte for byte", `{"id": 7 ,"op":"ping"}`, "echo"},
		{"id echoed byte for byte (exponent)", `{"id":1e0,"op":"ping"}`, "echo1e0"},
	}
	var bad []string
	for _, c := range cases {
		conn, br, err := r.rawDial()
		if err != nil {
			bad = append(bad, c.name+": dial: "+err.Error())
			continue
		}
		conn.SetDeadline(time.Now().Add(replyTimeout))
		conn.Write([]byte(c.line + "\n"))
		line, err := br.ReadString('\n')
		conn.Close()
		if err != nil {
			bad = append(bad, c.name+": no reply: "+err.Error())
			continue
		}
		var rep struct {
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		valid := json.Valid([]byte(line)) && json.Unmarshal([]byte(line), &rep) == nil
		switch c.want {
		case "bad_request":
			if !valid || rep.Error == nil || rep.Error.Code != "bad_request" {
				bad = append(bad, fmt.Sprintf("%s: %.90q", c.name, strings.TrimSpace(line)))
			}
		case "echo":
			if !strings.HasPrefix(line, `{"id":7,`) { // the value's bytes; the whitespace around it is not part of it
				bad = append(bad, fmt.Sprintf("%s: %.60q", c.name, strings.TrimSpace(line)))
			}
		case "echo1e0":
			if !strings.HasPrefix(line, `{"id":1e0,`) {
				bad = append(bad, fmt.Sprintf("%s: %.60q", c.name, strings.TrimSpace(line)))
			}
		}
	}
	r.assert("strict-protocol", "the protocol is strict: duplicate and case-folded keys and invalid UTF-8 are bad_request, ids echo byte for byte",
		"chaos phase hostile-clients (strict cases)", len(bad) == 0, "%d of %d cases wrong%s", len(bad), len(cases), listOf(bad))
}

func listOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return ": " + strings.Join(s, "; ")
}

// checkRefuses: `hooksupd check` must fail on hooks that can
// never run under the policy serve applies.
func (r *run) checkRefuses() {
	dir := filepath.Join(r.dir, "policy")
	ww := filepath.Join(dir, "world-writable")
	sub := filepath.Join(dir, "denied", "sub")
	os.MkdirAll(ww, 0o755)
	os.MkdirAll(sub, 0o755)
	os.Chmod(dir, 0o755)
	os.Chmod(ww, 0o777)
	script := []byte("#!/bin/sh\necho '{\"action\":\"allow\"}'\n")
	os.WriteFile(filepath.Join(ww, "h"), script, 0o755)
	os.WriteFile(filepath.Join(sub, "h"), script, 0o755)
	hook := func(cmd string) string {
		return fmt.Sprintf("[[hook]]\nname = \"h\"\nevent = \"pre_store\"\ncommand = %q\npriority = 0\ntimeout_ms = 1000\nenabled = true\nnamespace = \"*\"\n", cmd)
	}
	cases := []struct{ name, cfg string }{
		{"command in a world-writable directory (strict_modes)", "[policy]\nstrict_modes = true\n\n" + hook(filepath.Join(ww, "h"))},
		{"allow_commands miss", fmt.Sprintf("[policy]\nstrict_modes = false\nallow_commands = [%q]\n\n", "/nonexistent/*") + hook(filepath.Join(sub, "h"))},
		// "*" stays within a path element, "**" crosses them.
		{"deny_commands dir/** must deny dir/sub/h", fmt.Sprintf("[policy]\nstrict_modes = false\ndeny_commands = [%q]\n\n", filepath.Join(dir, "denied")+"/**") + hook(filepath.Join(sub, "h"))},
	}
	var bad []string
	for i, c := range cases {
		p := filepath.Join(dir, fmt.Sprintf("check-%d.toml", i))
		os.WriteFile(p, []byte(c.cfg), 0o600)
		cmd := exec.Command(r.hooksupd, "check", "-c", p)
		out, err := cmd.CombinedOutput()
		switch {
		case err == nil:
			bad = append(bad, c.name+": check exits 0")
		case !strings.Contains(string(out), "refused by [policy]"):
			bad = append(bad, c.name+": check fails without naming the policy rule")
		}
	}
	// The glob's definition, from the other side: dir/* is one element.
	p := filepath.Join(dir, "check-star.toml")
	os.WriteFile(p, []byte(fmt.Sprintf("[policy]\nstrict_modes = false\ndeny_commands = [%q]\n\n", filepath.Join(dir, "denied")+"/*")+hook(filepath.Join(sub, "h"))), 0o600)
	if out, err := exec.Command(r.hooksupd, "check", "-c", p).CombinedOutput(); err != nil {
		bad = append(bad, fmt.Sprintf("deny_commands dir/* denied dir/sub/h: %.120s", out))
	}
	r.assert("check-policy", "`hooksupd check` fails on hooks that can never run (policy evaluated as serve does)",
		"chaos final checks (hooksupd check on 4 configs)", len(bad) == 0, "%d of %d configs judged wrong%s", len(bad), len(cases)+1, listOf(bad))
}

// lastErrorLen is the longest last_error of the status report's hooks.
func (r *run) lastErrorLen() (int, string) {
	st, err := r.status()
	if err != nil {
		return -1, ""
	}
	hooks, _ := st["hooks"].([]any)
	n, text := 0, ""
	for _, h := range hooks {
		m, _ := h.(map[string]any)
		stt, _ := m["state"].(map[string]any)
		s, _ := stt["last_error"].(string)
		if len(s) > n {
			n, text = len(s), s
		}
	}
	return n, text
}

// runSigkill: SIGKILL of `hooksupd run` with a forking command must leave
// no process of its tree either, and the next run sweeps what is left.
func (r *run) runSigkill() {
	cmd := exec.Command(r.hooksupd, "run", "--pids-max", "64",
		"--env", "CHAOS_MARKER="+r.marker, "--env", "CHAOS_DIR="+r.dir, "--", r.self, "hook", "fork")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		r.assert("no-orphans-run", "within 1 s of SIGKILL of `hooksupd run`, no process of its command's tree is left",
			"chaos final checks", false, "hooksupd run: %v", err)
		return
	}
	before := 0
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if before = len(markedProcs(r.marker)); before >= 10 {
			break
		}
	}
	_ = syscallKill(cmd.Process.Pid)
	_ = cmd.Wait()
	time.Sleep(time.Second)
	survivors := markedProcs(r.marker)
	r.assert("no-orphans-run", "within 1 s of SIGKILL of `hooksupd run`, no process of its command's tree is left",
		"chaos final checks (hooksupd run of a fork flood, SIGKILL)", len(survivors) == 0,
		"%d of %d processes alive 1 s after SIGKILL", len(survivors), before)
	// The next run sweeps its cgroup subtree.
	sweep := exec.Command(r.hooksupd, "run", "--", "/bin/true")
	sweep.Env = cmd.Env
	err := sweep.Run()
	time.Sleep(300 * time.Millisecond)
	var alive []procInfo
	for _, pi := range survivors {
		if stillAlive(pi) {
			alive = append(alive, pi)
		}
	}
	r.assert("run-sweeps", "the next `hooksupd run` sweeps what a killed one left",
		"chaos final checks", err == nil && len(alive) == 0,
		"next run: %s; %d of %d survivors still alive", errOr(err), len(alive), len(survivors))
	r.killLeftovers(alive)
}
