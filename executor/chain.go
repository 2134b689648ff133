// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/config"
)

// chainHook is one hook of a chain with the fail mode the chain applies to
// it (the enforcement gate may force closed) and its metrics.
type chainHook struct {
	// hook is the configured hook, unchanged: executors are resolved from
	// it, so a forced fail mode never creates a second executor (seed
	// weakness: presence-gate duplicated executors).
	hook     config.Hook
	failMode config.FailMode
	metrics  *HookMetrics
	// exe is the hook's executor, resolved at its first fire and then kept
	// for the generation, so a fire does not look its executor up again.
	exe *resolved
	// successes bounds the info lines about the hook's answers.
	successes *successLog
}

// resolved memoises one resolveFunc call.
type resolved struct {
	once sync.Once
	exe  Executor
	err  error
}

// resolveFunc returns the executor of a hook (the registry, or a fake in
// tests).
type resolveFunc func(h *config.Hook) (Executor, error)

// chain runs the hooks of one event for one config generation.
type chain struct {
	event   config.Event
	hooks   []chainHook // chain order: priority descending, ties in file order
	resolve resolveFunc
	logger  *slog.Logger
	// violations is the dispatcher-wide timeout-violation counter: bumped
	// when the class deadline is exhausted before a hook and when a hook
	// times out (docs/seed-compatibility.md).
	violations *atomic.Uint64
}

// newChain orders hooks for the chain: a stable sort by priority
// descending, ties in file order. HooksFor already returns that order; the
// sort makes the chain's guarantee independent of it.
func newChain(ev config.Event, hooks []chainHook, resolve resolveFunc, logger *slog.Logger, violations *atomic.Uint64) *chain {
	hs := append([]chainHook(nil), hooks...)
	sort.SliceStable(hs, func(i, j int) bool {
		if hs[i].hook.Priority != hs[j].hook.Priority {
			return hs[i].hook.Priority > hs[j].hook.Priority
		}
		return hs[i].hook.Index < hs[j].hook.Index
	})
	for i := range hs {
		hs[i].exe = new(resolved)
		hs[i].successes = new(successLog)
	}
	if violations == nil {
		violations = new(atomic.Uint64)
	}
	return &chain{event: ev, hooks: hs, resolve: resolve, logger: logger, violations: violations}
}

// namespaceScoped reports whether a hook's namespace pattern restricts it
// (anything but "" or "*"): such a hook never fires without a namespace.
func namespaceScoped(pattern string) bool {
	p := strings.TrimSpace(pattern)
	return p != "" && p != "*"
}

// scoped reports whether some hook of the chain is namespace-scoped.
func (c *chain) scoped() bool {
	for i := range c.hooks {
		if namespaceScoped(c.hooks[i].hook.Namespace) {
			return true
		}
	}
	return false
}

// selectHooks returns the hooks that match any of the namespaces (an empty
// list is "no namespace": only wildcard hooks match).
func (c *chain) selectHooks(namespaces []string) []*chainHook {
	out := make([]*chainHook, 0, len(c.hooks))
	for i := range c.hooks {
		if MatchAnyNamespace(c.hooks[i].hook.Namespace, namespaces) {
			out = append(out, &c.hooks[i])
		}
	}
	return out
}

// honoursModify and honoursDeny: notify events (and post-events) cannot
// change an outcome that already happened.
func (c *chain) honoursModify() bool { return c.event.Kind != config.KindNotify && c.event.Pre }
func (c *chain) honoursDeny() bool   { return c.event.Kind != config.KindNotify }

// fire runs the chain (docs/seed-compatibility.md) and always returns a Result.
//
// One context bounds the chain: the caller's ctx narrowed by the event's
// class deadline. Each hook gets that context narrowed by its own timeout
// and nothing else: the chain never abandons a running Fire on a timer of
// its own (docs/seed-compatibility.md
// without its reset). It waits for Fire to return, and executors return
// only after their cleanup has run.
//
// When exactly one namespace is given and the payload is a JSON object,
// payload["namespace"] is overwritten with it before the first hook: the
// namespace is resolved by the host, never taken from the body (see
// docs/seed-compatibility.md).
func (c *chain) fire(ctx context.Context, namespaces []string, payload json.RawMessage) *Result {
	res := &Result{Decision: ActionAllow}
	hooks := c.selectHooks(namespaces)
	if len(hooks) == 0 {
		return res
	}
	chainCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.event.Deadline > 0 {
		chainCtx, cancel = context.WithTimeout(ctx, c.event.Deadline)
	}
	defer cancel()

	st := chainState{cur: payload}
	if len(namespaces) == 1 {
		if obj, ok := parseObject(payload); ok {
			obj.set("namespace", jsonQuote(namespaces[0]))
			st.obj = obj
			st.cur = obj.marshal()
		}
	}
	res.Hooks = make([]Trace, 0, len(hooks))
	fi := fireInfoFrom(ctx)
	fireID := FireIDFrom(ctx)

	for _, ch := range hooks {
		h := &ch.hook
		if fi != nil {
			fi.reset()
		}
		if chainCtx.Err() != nil {
			// Budget is gone before this hook could start (docs/seed-compatibility.md 3b).
			c.violations.Add(1)
			ch.metrics.count(KindDeadlineExhausted.String())
			res.Hooks = append(res.Hooks, Trace{Hook: h.Name, Decision: traceSkipped,
				Error: KindDeadlineExhausted.String()})
			if ch.failMode == config.FailClosed {
				c.logHook(slog.LevelWarn, "hooks: chain class deadline exhausted before hook fire; fail_mode=closed, denying", h, fi, namespaces,
					slog.String("outcome", KindDeadlineExhausted.String()))
				return denyResult(res, fmt.Sprintf("hook %s skipped under fail_mode=closed: chain class deadline exhausted", h.Name), 504)
			}
			c.logHook(slog.LevelWarn, "hooks: chain class deadline exhausted before hook fire; fail_mode=open, skipping", h, fi, namespaces,
				slog.String("outcome", KindDeadlineExhausted.String()))
			continue
		}

		dec, dur, err := c.fireOne(chainCtx, ch, st.payload())
		if fi != nil && fi.hasRes.Load() {
			ch.metrics.ObserveResources(time.Duration(fi.cpuNs.Load()), fi.peak.Load())
		}
		if err != nil {
			kind := KindOf(err).String()
			if errors.Is(err, ErrTimeout) {
				c.violations.Add(1)
			}
			ch.metrics.Observe(kind, dur)
			res.Hooks = append(res.Hooks, Trace{Hook: h.Name, Decision: traceError, Duration: dur,
				Error: kind, Ran: hookRan(err)})
			if ch.failMode == config.FailClosed {
				c.logHook(slog.LevelWarn, "hooks: chain hook errored; fail_mode=closed, denying", h, fi, namespaces,
					slog.String("outcome", kind), slog.Duration("duration", dur), slog.Any("err", err))
				return denyResult(res, fmt.Sprintf("hook %s errored under fail_mode=closed: %v", h.Name, err), 503)
			}
			c.logHook(slog.LevelWarn, "hooks: chain hook errored; fail_mode=open, treating as Allow", h, fi, namespaces,
				slog.String("outcome", kind), slog.Duration("duration", dur), slog.Any("err", err))
			dec = allowDecision // and the state machine below clears the prompt queue, as the seed does
		} else {
			ch.metrics.Observe(string(dec.Action), dur)
			res.Hooks = append(res.Hooks, Trace{Hook: h.Name, Decision: string(dec.Action), Duration: dur, Ran: true})
			if c.logger.Enabled(context.Background(), slog.LevelInfo) {
				c.logAnswer(ch, fi, namespaces, dec.Action, dur)
			}
		}

		switch dec.Action {
		case ActionAllow:
			st.prompts = nil
		case ActionModify:
			st.prompts = nil
			if !c.honoursModify() {
				c.logger.Warn("hooks: Modify decision returned for post- event; degrading to Allow",
					"hook", h.Name, "event", c.event.Name, "fire_id", fireID, "outcome", string(dec.Action))
				continue
			}
			st.apply(dec.Delta)
		case ActionDeny:
			if !c.honoursDeny() {
				// The side effect already happened: the deny is logged and the
				// chain goes on as if the hook had allowed.
				st.prompts = nil
				c.logger.Warn("hooks: Deny decision returned for notify event; logged only",
					"hook", h.Name, "event", c.event.Name, "fire_id", fireID, "outcome", string(dec.Action), "code", dec.Code, "reason", dec.Reason)
				continue
			}
			// First deny wins; earlier prompts are discarded ("compliance
			// trumps operator UX").
			return denyResult(res, dec.Reason, dec.Code)
		case ActionAskUser:
			// Kept on notify events too, as the seed does: the host decides
			// whether a prompt after the fact means anything.
			st.prompts = append(st.prompts, Prompt{Prompt: dec.Prompt, Options: dec.Options,
				Default: dec.Default, Hook: h.Name})
		}
	}

	switch {
	case len(st.prompts) > 0:
		res.Decision = ActionAskUser
		res.Prompts = st.prompts
		// Deliberately unlike the seed, which dropped an accumulated delta
		// when a later hook asked the user: it is kept so the caller can
		// apply it once the user answers.
		if st.modified {
			res.Delta, res.Payload = st.delta, st.payload()
		}
	case st.modified:
		res.Decision = ActionModify
		res.Delta, res.Payload = st.delta, st.payload()
	}
	return res
}

// logHook writes a line about hook h in this fire: hook, event, then
// fire_id, namespace and child_pid when they are known, then attrs.
func (c *chain) logHook(level slog.Level, msg string, h *config.Hook, fi *fireInfo, namespaces []string, attrs ...slog.Attr) {
	ctx := context.Background()
	if !c.logger.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 5+len(attrs))
	all = append(all, slog.String("hook", h.Name), slog.String("event", c.event.Name))
	if fi != nil {
		all = append(all, slog.String("fire_id", fi.id))
	}
	if len(namespaces) > 0 {
		all = append(all, namespaceAttr(namespaces))
	}
	if pid := childPidOf(fi); pid > 0 {
		all = append(all, slog.Int64("child_pid", pid))
	}
	if fi != nil && fi.hasRes.Load() {
		all = append(all, slog.Duration("cpu", time.Duration(fi.cpuNs.Load())), slog.Int64("memory_peak", fi.peak.Load()))
	}
	c.logger.LogAttrs(ctx, level, msg, append(all, attrs...)...)
}

// logAnswer writes the info line about a hook's answer, within the
// hook's budget of success lines (see successLog).
func (c *chain) logAnswer(ch *chainHook, fi *fireInfo, namespaces []string, a Action, dur time.Duration) {
	n, ok := ch.successes.take()
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("outcome", string(a)), slog.Duration("duration", dur)}
	if n > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", n))
	}
	c.logHook(slog.LevelInfo, "hooks: hook answered", &ch.hook, fi, namespaces, attrs...)
}

// fireOne runs one hook with its own timeout inside the chain context and
// returns the decision, the error and how long it took.
func (c *chain) fireOne(chainCtx context.Context, ch *chainHook, payload json.RawMessage) (Decision, time.Duration, error) {
	h := &ch.hook
	ctx, cancel := chainCtx, context.CancelFunc(func() {})
	if h.Timeout > 0 {
		// Timeout 0 leaves the hook bounded by the class deadline alone.
		ctx, cancel = context.WithTimeout(chainCtx, h.Timeout)
	}
	defer cancel()
	start := time.Now()
	ch.exe.once.Do(func() { ch.exe.exe, ch.exe.err = c.resolve(h) })
	exe, err := ch.exe.exe, ch.exe.err
	var dec Decision
	if err == nil {
		dec, err = exe.Fire(ctx, c.event.Name, payload)
	}
	dur := time.Since(start)
	if err == nil {
		switch dec.Action {
		case ActionAllow, ActionModify, ActionDeny, ActionAskUser:
		default:
			err = &DecodeError{Kind: DecodeUnknownAction, Action: string(dec.Action)}
		}
	}
	if err != nil && KindOf(err) == KindInternal && errors.Is(err, context.DeadlineExceeded) {
		// An executor that let the bare context error through still timed out.
		err = fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return dec, dur, err
}

// hookRan reports whether an executor error means the hook's program was
// started: spawn, policy, support, slot, availability and shutdown failures
// happen before it.
func hookRan(err error) bool {
	switch KindOf(err) {
	case KindSpawn, KindPolicy, KindNotSupported, KindDropped, KindDaemonUnavailable, KindClosed,
		KindDeadlineExhausted, KindUnknownEvent:
		return false
	}
	return true
}

func denyResult(res *Result, reason string, code int) *Result {
	res.Decision = ActionDeny
	res.Reason = reason
	res.Code = code
	return res
}

// chainState is the in-flight state of one fire (docs/seed-compatibility.md step 4).
type chainState struct {
	cur      json.RawMessage // payload the next hook sees, when obj is nil or clean
	obj      *object         // parsed payload once a delta was overlaid
	dirty    bool            // obj changed since cur was encoded
	delta    map[string]json.RawMessage
	modified bool
	prompts  []Prompt
}

// apply overlays delta onto the payload (top-level keys; a payload that
// is not an object is replaced by the delta object) and merges it into the
// accumulated delta, last writer wins per key.
func (s *chainState) apply(delta map[string]json.RawMessage) {
	s.modified = true
	if s.delta == nil {
		s.delta = make(map[string]json.RawMessage, len(delta))
	}
	if s.obj == nil {
		obj, ok := parseObject(s.cur)
		if !ok {
			obj = &object{vals: map[string]json.RawMessage{}}
		}
		s.obj = obj
	}
	keys := make([]string, 0, len(delta))
	for k := range delta {
		keys = append(keys, k)
	}
	sort.Strings(keys) // new keys are appended in a stable order
	for _, k := range keys {
		s.obj.set(k, delta[k])
		s.delta[k] = delta[k]
	}
	s.dirty = true
}

func (s *chainState) payload() json.RawMessage {
	if s.dirty {
		s.cur = s.obj.marshal()
		s.dirty = false
	}
	return s.cur
}

// object is a JSON object that keeps its key order, so overlaying a delta
// changes only the keys it names.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

// parseObject decodes raw when it is a JSON object. A duplicate key keeps
// its first position and its last value, as encoding/json does.
func parseObject(raw json.RawMessage) (*object, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	o := &object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := t.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		o.set(k, compactJSON(v))
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	return o, true
}

func (o *object) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) marshal() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonQuote(k))
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// jsonQuote encodes s as a JSON string without the HTML escaping of
// json.Marshal, so values round-trip byte for byte.
func jsonQuote(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
