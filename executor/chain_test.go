// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
)

// fakeExec is an in-memory Executor: it records what it was given and
// answers with fn.
type fakeExec struct {
	fn func(ctx context.Context, payload json.RawMessage) (Decision, error)

	mu       sync.Mutex
	payloads []string
	events   []string
	order    *[]string // shared call log, when set
	name     string
}

func (f *fakeExec) Fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error) {
	f.mu.Lock()
	f.payloads = append(f.payloads, string(payload))
	f.events = append(f.events, event)
	if f.order != nil {
		*f.order = append(*f.order, f.name)
	}
	f.mu.Unlock()
	return f.fn(ctx, payload)
}

func (f *fakeExec) Close(context.Context) error { return nil }

func (f *fakeExec) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.payloads)
}

func (f *fakeExec) seen(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.payloads[i]
}

func answer(d Decision) *fakeExec {
	return &fakeExec{fn: func(context.Context, json.RawMessage) (Decision, error) { return d, nil }}
}

func failing(err error) *fakeExec {
	return &fakeExec{fn: func(context.Context, json.RawMessage) (Decision, error) { return Decision{}, err }}
}

// waitCtx blocks until its context ends and reports a timeout, like a real
// executor whose child never answers.
func waitCtx() *fakeExec {
	return &fakeExec{fn: func(ctx context.Context, _ json.RawMessage) (Decision, error) {
		<-ctx.Done()
		return Decision{}, fmt.Errorf("%w after budget: %w", ErrTimeout, ctx.Err())
	}}
}

var (
	dAllow  = Decision{Action: ActionAllow}
	dDeny   = Decision{Action: ActionDeny, Reason: "policy says no", Code: 451}
	preEvt  = config.Event{Name: "pre_store", Class: "write", Deadline: 5 * time.Second, Kind: config.KindDecision, Pre: true, MemoryDelta: true}
	postEvt = config.Event{Name: "post_store", Class: "write", Deadline: 5 * time.Second, Kind: config.KindNotify}
)

func dModify(delta string) Decision {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(delta), &m); err != nil {
		panic(err)
	}
	return Decision{Action: ActionModify, Delta: m}
}

func dAsk(prompt string) Decision {
	return Decision{Action: ActionAskUser, Prompt: prompt, Options: []string{"yes", "no"}, Default: strp("no")}
}

// th is one hook of a test chain.
type th struct {
	name     string
	exe      *fakeExec
	failMode config.FailMode
	priority int32
	index    int
	timeout  time.Duration
	ns       string
}

// testChain builds a chain over fake executors. Hooks keep the given order
// as file order unless index is set.
func testChain(ev config.Event, hooks ...th) (*chain, map[string]*HookMetrics, *atomic.Uint64) {
	exes := map[string]Executor{}
	metrics := map[string]*HookMetrics{}
	var chs []chainHook
	for i, h := range hooks {
		idx := h.index
		if idx == 0 {
			idx = i
		}
		fm := h.failMode
		if fm == "" {
			fm = config.FailOpen
		}
		to := h.timeout
		if to == 0 {
			to = 5 * time.Second
		}
		ns := h.ns
		if ns == "" {
			ns = "*"
		}
		exes[h.name] = h.exe
		metrics[h.name] = NewHookMetrics()
		chs = append(chs, chainHook{
			hook: config.Hook{Name: h.name, Event: ev.Name, Command: "/bin/" + h.name, Priority: h.priority,
				Timeout: to, Enabled: true, Namespace: ns, FailMode: h.failMode, Index: idx},
			failMode: fm,
			metrics:  metrics[h.name],
		})
	}
	resolve := func(h *config.Hook) (Executor, error) {
		e, ok := exes[h.Name]
		if !ok {
			return nil, fmt.Errorf("no executor for %s", h.Name)
		}
		return e, nil
	}
	violations := new(atomic.Uint64)
	return newChain(ev, chs, resolve, discardLogger(), violations), metrics, violations
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuf captures log output for assertions.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogBuf() (*logBuf, *slog.Logger) {
	lb := &logBuf{}
	return lb, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func decisions(res *Result) []string {
	out := make([]string, len(res.Hooks))
	for i, t := range res.Hooks {
		out[i] = t.Hook + ":" + t.Decision
	}
	return out
}

// TestChainStateMachine covers every row of docs/seed-compatibility.md's table and
// step 5.
func TestChainStateMachine(t *testing.T) {
	const payload = `{"content":"a","title":"t"}`
	type step struct {
		d   Decision
		err error
	}
	tests := []struct {
		name       string
		payload    string
		steps      []step
		want       Action
		delta      string // JSON of Result.Delta, "" = nil
		payloadOut string // Result.Payload, "" = nil
		prompts    []string
		called     int    // hooks that ran
		reason     string // deny
		code       int
		seen       []string // payload each called hook saw
	}{
		{name: "empty chain is allow", want: ActionAllow},
		{name: "allow", steps: []step{{d: dAllow}, {d: dAllow}}, want: ActionAllow, called: 2},
		{name: "allow clears the ask queue", steps: []step{{d: dAsk("p1")}, {d: dAllow}}, want: ActionAllow, called: 2},
		{name: "modify overlays top-level keys", steps: []step{{d: dModify(`{"content":"b"}`)}},
			want: ActionModify, delta: `{"content":"b"}`, payloadOut: `{"content":"b","title":"t"}`, called: 1},
		{name: "next hook sees the merged payload, last writer wins",
			steps: []step{{d: dModify(`{"content":"b","tags":["x","y"]}`)}, {d: dModify(`{"content":"c","tags":["z"]}`)}, {d: dAllow}},
			want:  ActionModify, delta: `{"content":"c","tags":["z"]}`,
			payloadOut: `{"content":"c","title":"t","tags":["z"]}`, called: 3,
			seen: []string{payload, `{"content":"b","title":"t","tags":["x","y"]}`, `{"content":"c","title":"t","tags":["z"]}`}},
		{name: "accumulated delta keeps earlier keys", steps: []step{{d: dModify(`{"title":"T"}`)}, {d: dModify(`{"content":"C"}`)}},
			want: ActionModify, delta: `{"content":"C","title":"T"}`, payloadOut: `{"content":"C","title":"T"}`, called: 2},
		{name: "modify clears the ask queue", steps: []step{{d: dAsk("p1")}, {d: dModify(`{"content":"b"}`)}},
			want: ActionModify, delta: `{"content":"b"}`, payloadOut: `{"content":"b","title":"t"}`, called: 2},
		{name: "modify replaces a non-object payload", payload: `[1,2]`, steps: []step{{d: dModify(`{"content":"x"}`)}},
			want: ActionModify, delta: `{"content":"x"}`, payloadOut: `{"content":"x"}`, called: 1},
		{name: "deny short-circuits", steps: []step{{d: dAllow}, {d: dDeny}, {d: dAllow}},
			want: ActionDeny, reason: "policy says no", code: 451, called: 2},
		{name: "deny discards queued prompts and deltas", steps: []step{{d: dAsk("p1")}, {d: dModify(`{"a":1}`)}, {d: dAsk("p2")}, {d: dDeny}},
			want: ActionDeny, reason: "policy says no", code: 451, called: 4},
		{name: "ask_user is queued in order", steps: []step{{d: dAsk("p1")}, {d: dAllow}, {d: dAsk("p2")}, {d: dAsk("p3")}},
			want: ActionAskUser, prompts: []string{"h2:p2", "h3:p3"}, called: 4},
		{name: "modify then ask keeps the delta", steps: []step{{d: dModify(`{"content":"b"}`)}, {d: dAsk("p1")}},
			want: ActionAskUser, prompts: []string{"h1:p1"}, delta: `{"content":"b"}`,
			payloadOut: `{"content":"b","title":"t"}`, called: 2},
		{name: "fail-open error is an allow and clears the queue", steps: []step{{d: dAsk("p1")}, {err: fmt.Errorf("%w: boom", ErrExit)}},
			want: ActionAllow, called: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hooks []th
			for i, s := range tt.steps {
				var e *fakeExec
				if s.err != nil {
					e = failing(s.err)
				} else {
					e = answer(s.d)
				}
				hooks = append(hooks, th{name: fmt.Sprintf("h%d", i), exe: e})
			}
			c, _, _ := testChain(preEvt, hooks...)
			in := tt.payload
			if in == "" {
				in = payload
			}
			res := c.fire(context.Background(), nil, json.RawMessage(in))
			if res.Decision != tt.want {
				t.Fatalf("decision = %s, want %s (trace %v)", res.Decision, tt.want, decisions(res))
			}
			called := 0
			for _, h := range hooks {
				called += h.exe.calls()
			}
			if called != tt.called || len(res.Hooks) != tt.called {
				t.Errorf("called %d hooks, traced %d, want %d", called, len(res.Hooks), tt.called)
			}
			gotDelta := ""
			if res.Delta != nil {
				b, _ := json.Marshal(res.Delta)
				gotDelta = string(b)
			}
			if gotDelta != tt.delta {
				t.Errorf("delta = %s, want %s", gotDelta, tt.delta)
			}
			if string(res.Payload) != tt.payloadOut {
				t.Errorf("payload = %s, want %s", res.Payload, tt.payloadOut)
			}
			var prompts []string
			for _, p := range res.Prompts {
				prompts = append(prompts, p.Hook+":"+p.Prompt)
				if !reflect.DeepEqual(p.Options, []string{"yes", "no"}) || p.Default == nil || *p.Default != "no" {
					t.Errorf("prompt %+v lost options/default", p)
				}
			}
			if !reflect.DeepEqual(prompts, tt.prompts) {
				t.Errorf("prompts = %v, want %v", prompts, tt.prompts)
			}
			if res.Reason != tt.reason || res.Code != tt.code {
				t.Errorf("reason/code = %q/%d, want %q/%d", res.Reason, res.Code, tt.reason, tt.code)
			}
			for i, want := range tt.seen {
				if got := hooks[i].exe.seen(0); got != want {
					t.Errorf("hook %d saw %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestChainOrdering(t *testing.T) {
	var order []string
	mk := func(name string, prio int32, idx int) th {
		e := answer(dAllow)
		e.name, e.order = name, &order
		return th{name: name, exe: e, priority: prio, index: idx}
	}
	// Given scrambled; file order is the index.
	c, _, _ := testChain(preEvt,
		mk("p10-i3", 10, 3), mk("p100-i1", 100, 1), mk("p10-i100", 10, 100), // index 0 means "unset" in th
		mk("p1000-i4", 1000, 4), mk("p100-i2", 100, 2), mk("pneg-i5", -5, 5), mk("p10-i6", 10, 6))
	res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
	want := []string{"p1000-i4", "p100-i1", "p100-i2", "p10-i3", "p10-i6", "p10-i100", "pneg-i5"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	for i, tr := range res.Hooks {
		if tr.Hook != want[i] {
			t.Errorf("trace[%d] = %s, want %s", i, tr.Hook, want[i])
		}
	}
}

func TestChainClassDeadline(t *testing.T) {
	for _, fm := range []config.FailMode{config.FailOpen, config.FailClosed} {
		t.Run(string(fm), func(t *testing.T) {
			ev := preEvt
			ev.Deadline = 100 * time.Millisecond
			after := answer(dAllow)
			c, metrics, violations := testChain(ev,
				th{name: "slow", exe: waitCtx(), timeout: 10 * time.Second},
				th{name: "late", exe: after, failMode: fm})
			start := time.Now()
			res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
			elapsed := time.Since(start)
			if elapsed < ev.Deadline || elapsed > ev.Deadline+time.Second {
				t.Errorf("fire took %v, want about the class deadline %v", elapsed, ev.Deadline)
			}
			if after.calls() != 0 {
				t.Error("a hook ran after the class deadline was exhausted")
			}
			if got := violations.Load(); got != 2 {
				t.Errorf("timeout violations = %d, want 2 (the timeout and the skip)", got)
			}
			wantTrace := []Trace{
				{Hook: "slow", Decision: "error", Error: "timeout", Ran: true},
				{Hook: "late", Decision: "skipped", Error: "deadline_exhausted", Ran: false},
			}
			for i := range res.Hooks {
				res.Hooks[i].Duration = 0
			}
			if !reflect.DeepEqual(res.Hooks, wantTrace) {
				t.Errorf("trace = %+v, want %+v", res.Hooks, wantTrace)
			}
			if s := metrics["late"].Snapshot(); s.Fires != 0 || s.Outcomes["deadline_exhausted"] != 1 {
				t.Errorf("skipped hook metrics = %+v", s)
			}
			if s := metrics["slow"].Snapshot(); s.Timeouts != 1 || s.Fires != 1 {
				t.Errorf("slow hook metrics = %+v", s)
			}
			switch fm {
			case config.FailOpen:
				if res.Decision != ActionAllow {
					t.Errorf("open: decision %s, want allow", res.Decision)
				}
			case config.FailClosed:
				want := "hook late skipped under fail_mode=closed: chain class deadline exhausted"
				if res.Decision != ActionDeny || res.Code != 504 || res.Reason != want {
					t.Errorf("closed: got %s %d %q, want deny 504 %q", res.Decision, res.Code, res.Reason, want)
				}
			}
		})
	}
}

// TestChainHookBudget: each hook gets min(remaining class budget, its own
// timeout) through its context, and nothing else.
func TestChainHookBudget(t *testing.T) {
	var deadlines []time.Duration
	probe := func() *fakeExec {
		return &fakeExec{fn: func(ctx context.Context, _ json.RawMessage) (Decision, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				return Decision{}, errors.New("no deadline")
			}
			deadlines = append(deadlines, time.Until(dl))
			return dAllow, nil
		}}
	}
	ev := preEvt
	ev.Deadline = 2 * time.Second
	c, _, _ := testChain(ev,
		th{name: "short", exe: probe(), timeout: 300 * time.Millisecond},
		th{name: "long", exe: probe(), timeout: 20 * time.Second})
	res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
	if res.Decision != ActionAllow || len(deadlines) != 2 {
		t.Fatalf("res %+v, deadlines %v", res, deadlines)
	}
	if d := deadlines[0]; d > 300*time.Millisecond || d < 200*time.Millisecond {
		t.Errorf("short hook budget %v, want its 300ms timeout", d)
	}
	if d := deadlines[1]; d > 2*time.Second || d < time.Second {
		t.Errorf("long hook budget %v, want the remaining class deadline (<2s)", d)
	}

	// The hook's own timeout ends its fire, not the class deadline.
	c, _, _ = testChain(ev, th{name: "stuck", exe: waitCtx(), timeout: 50 * time.Millisecond, failMode: config.FailClosed})
	start := time.Now()
	res = c.fire(context.Background(), nil, json.RawMessage(`{}`))
	if el := time.Since(start); el < 50*time.Millisecond || el > time.Second {
		t.Errorf("stuck hook returned after %v, want about 50ms", el)
	}
	if res.Decision != ActionDeny || res.Code != 503 || !strings.HasPrefix(res.Reason, "hook stuck errored under fail_mode=closed: hook timed out") {
		t.Errorf("got %s %d %q", res.Decision, res.Code, res.Reason)
	}
}

// TestChainWaitsForExecutor: the chain never abandons a Fire that
// outlives its budget (docs/seed-compatibility.md): it returns only after the
// executor has returned, i.e. after the executor's cleanup ran.
func TestChainWaitsForExecutor(t *testing.T) {
	var cleaned atomic.Bool
	slow := &fakeExec{fn: func(ctx context.Context, _ json.RawMessage) (Decision, error) {
		<-ctx.Done()
		time.Sleep(150 * time.Millisecond) // a kill + reap that takes a while
		cleaned.Store(true)
		return Decision{}, fmt.Errorf("%w: killed", ErrTimeout)
	}}
	ev := preEvt
	ev.Deadline = 50 * time.Millisecond
	next := answer(dAllow)
	c, _, _ := testChain(ev, th{name: "slow", exe: slow, timeout: 20 * time.Millisecond}, th{name: "next", exe: next})
	start := time.Now()
	res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
	el := time.Since(start)
	if !cleaned.Load() {
		t.Fatal("chain returned before the executor finished its cleanup")
	}
	if el < 170*time.Millisecond {
		t.Errorf("chain returned after %v, before the executor did", el)
	}
	if next.calls() != 0 || res.Hooks[1].Decision != "skipped" {
		t.Errorf("next hook ran after the deadline: %v", decisions(res))
	}
}

func TestChainCallerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := answer(dAllow)
	c, _, _ := testChain(preEvt, th{name: "h", exe: e, failMode: config.FailClosed})
	res := c.fire(ctx, nil, json.RawMessage(`{}`))
	if e.calls() != 0 || res.Decision != ActionDeny || res.Code != 504 {
		t.Errorf("cancelled fire: calls %d, res %+v", e.calls(), res)
	}
}

func TestChainFailModes(t *testing.T) {
	tests := []struct {
		err  error
		kind string
		ran  bool
	}{
		{&spawnErr{}, "spawn", false},
		{fmt.Errorf("%w: /x: permission denied", ErrPolicyRefused), "policy", false},
		{fmt.Errorf("%w: no slot", ErrDropped), "dropped", false},
		{fmt.Errorf("%w: restarting", ErrDaemonUnavailable), "daemon_unavailable", false},
		{fmt.Errorf("%w: memory_max", ErrNotSupported), "not_supported", false},
		{fmt.Errorf("%w after 100ms", ErrTimeout), "timeout", true},
		{fmt.Errorf("hook child: %w", ErrOOMKilled), "oom_killed", true},
		{fmt.Errorf("%w (code 1); see operator log for redacted stderr", ErrExit), "exit", true},
		{&DecodeError{Kind: DecodeNotAnObject}, "decode", true},
		{fmt.Errorf("%w: broken pipe", ErrIO), "io", true},
		{errors.New("something else"), "internal", true},
		{context.DeadlineExceeded, "timeout", true}, // a bare context error is still a timeout
	}
	for _, tt := range tests {
		for _, fm := range []config.FailMode{config.FailOpen, config.FailClosed} {
			t.Run(tt.kind+"/"+string(fm), func(t *testing.T) {
				next := answer(dAllow)
				c, metrics, _ := testChain(preEvt, th{name: "bad", exe: failing(tt.err), failMode: fm}, th{name: "next", exe: next})
				res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
				tr := res.Hooks[0]
				if tr.Decision != "error" || tr.Error != tt.kind || tr.Ran != tt.ran {
					t.Errorf("trace = %+v, want error/%s ran=%v", tr, tt.kind, tt.ran)
				}
				if metrics["bad"].Snapshot().Outcomes[tt.kind] != 1 {
					t.Errorf("metrics outcomes = %v", metrics["bad"].Snapshot().Outcomes)
				}
				if fm == config.FailOpen {
					if res.Decision != ActionAllow || next.calls() != 1 {
						t.Errorf("open: %s, next calls %d", res.Decision, next.calls())
					}
					return
				}
				if res.Decision != ActionDeny || res.Code != 503 || next.calls() != 0 {
					t.Fatalf("closed: %+v, next calls %d", res, next.calls())
				}
				if !strings.HasPrefix(res.Reason, "hook bad errored under fail_mode=closed: ") {
					t.Errorf("reason %q", res.Reason)
				}
			})
		}
	}
}

type spawnErr struct{}

func (*spawnErr) Error() string { return "hook spawn failed for /bin/missing: no such file" }
func (*spawnErr) Unwrap() error { return ErrSpawn }

func TestChainResolveErrorAndBadAction(t *testing.T) {
	c, _, _ := testChain(preEvt, th{name: "a", exe: answer(Decision{Action: "maybe"}), failMode: config.FailClosed})
	res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
	if res.Decision != ActionDeny || res.Hooks[0].Error != "decode" {
		t.Errorf("unknown action from executor: %+v", res)
	}
	c, _, _ = testChain(preEvt, th{name: "a", exe: answer(dAllow)})
	c.resolve = func(*config.Hook) (Executor, error) {
		return nil, fmt.Errorf("%w: /bin/a not allowed", ErrPolicyRefused)
	}
	res = c.fire(context.Background(), nil, json.RawMessage(`{}`))
	if res.Decision != ActionAllow || res.Hooks[0] != (Trace{Hook: "a", Decision: "error", Error: "policy", Ran: false, Duration: res.Hooks[0].Duration}) {
		t.Errorf("resolve error: %+v", res.Hooks)
	}
}

func TestChainNotifyEvent(t *testing.T) {
	lb, log := newLogBuf()
	after := answer(dAllow)
	c, _, _ := testChain(postEvt,
		th{name: "mod", exe: answer(dModify(`{"content":"x"}`))},
		th{name: "deny", exe: answer(dDeny)},
		th{name: "after", exe: after})
	c.logger = log
	res := c.fire(context.Background(), nil, json.RawMessage(`{"content":"a"}`))
	if res.Decision != ActionAllow || res.Delta != nil || res.Payload != nil {
		t.Errorf("notify event result %+v, want plain allow", res)
	}
	if after.calls() != 1 || after.seen(0) != `{"content":"a"}` {
		t.Errorf("hook after a notify deny: calls %d, payload changed?", after.calls())
	}
	if want := []string{"mod:modify", "deny:deny", "after:allow"}; !reflect.DeepEqual(decisions(res), want) {
		t.Errorf("trace %v, want %v (the hook's own answers)", decisions(res), want)
	}
	out := lb.String()
	for _, s := range []string{"degrading to Allow", "logged only", "level=WARN"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q:\n%s", s, out)
		}
	}

	// ask_user on a notify event is kept, as the seed does.
	c, _, _ = testChain(postEvt, th{name: "ask", exe: answer(dAsk("p"))})
	if res := c.fire(context.Background(), nil, json.RawMessage(`{}`)); res.Decision != ActionAskUser {
		t.Errorf("notify ask_user: %s", res.Decision)
	}

	// A decision event that is not a pre-event honours deny but not modify.
	ev := config.Event{Name: "gate", Kind: config.KindDecision, Pre: false, Deadline: time.Second}
	c, _, _ = testChain(ev, th{name: "mod", exe: answer(dModify(`{"a":1}`))}, th{name: "deny", exe: answer(dDeny)})
	if res := c.fire(context.Background(), nil, json.RawMessage(`{}`)); res.Decision != ActionDeny || res.Delta != nil {
		t.Errorf("non-pre decision event: %+v", res)
	}
}

func TestChainTraceAndMetrics(t *testing.T) {
	lb, log := newLogBuf()
	sleepy := &fakeExec{fn: func(context.Context, json.RawMessage) (Decision, error) {
		time.Sleep(20 * time.Millisecond)
		return dModify(`{"a":1}`), nil
	}}
	c, metrics, _ := testChain(preEvt, th{name: "sleepy", exe: sleepy}, th{name: "asker", exe: answer(dAsk("q"))})
	c.logger = log
	for range 3 {
		res := c.fire(context.Background(), nil, json.RawMessage(`{}`))
		if res.Hooks[0].Duration < 20*time.Millisecond || !res.Hooks[0].Ran || res.Hooks[0].Decision != "modify" {
			t.Errorf("trace %+v", res.Hooks[0])
		}
	}
	s := metrics["sleepy"].Snapshot()
	if s.Fires != 3 || s.Outcomes["modify"] != 3 || s.P50 < 10*time.Millisecond {
		t.Errorf("sleepy metrics %+v", s)
	}
	if s := metrics["asker"].Snapshot(); s.Outcomes["ask_user"] != 3 {
		t.Errorf("asker metrics %+v", s)
	}
	if out := lb.String(); !strings.Contains(out, "level=INFO") || !strings.Contains(out, "hook=sleepy") ||
		!strings.Contains(out, "outcome=modify") || !strings.Contains(out, "event=pre_store") {
		t.Errorf("info log per answer missing:\n%s", out)
	}
}

func TestParseObjectKeepsOrder(t *testing.T) {
	o, ok := parseObject(json.RawMessage(` { "z" : 1, "a" : {"n": [1, 2]}, "z": 3, "<&>": "x" } `))
	if !ok {
		t.Fatal("not parsed")
	}
	o.set("b", json.RawMessage(`true`))
	if got := string(o.marshal()); got != `{"z":3,"a":{"n":[1,2]},"<&>":"x","b":true}` {
		t.Errorf("marshal = %s", got)
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1`, `null`} {
		if _, ok := parseObject(json.RawMessage(bad)); ok {
			t.Errorf("parseObject(%q) ok", bad)
		}
	}
}
