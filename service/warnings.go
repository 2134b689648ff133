// SPDX-License-Identifier: Apache-2.0

package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RecentWarnings is a slog.Handler in front of the service's own: it
// passes every record on and keeps the last few warnings and errors about
// each hook (records with a "hook" attribute), so `hooksupd status` can
// show what went wrong lately without a trip to the journal. It keeps
// them whatever the inner handler's level: an operator who logs only
// errors still sees a hook's recent failures in status.
type RecentWarnings struct {
	inner slog.Handler
	pre   []slog.Attr // WithAttrs so far, searched for "hook" as well
	st    *warnStore
}

// WarningsPerHook is how many warnings status keeps per hook.
const WarningsPerHook = 5

type warnStore struct {
	mu     sync.Mutex
	byHook map[string][]Warning
}

// Warning is one recent warning or error about a hook.
type Warning struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	FireID  string    `json:"fire_id,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Err     string    `json:"err,omitempty"`
}

// NewRecentWarnings wraps inner.
func NewRecentWarnings(inner slog.Handler) *RecentWarnings {
	return &RecentWarnings{inner: inner, st: &warnStore{byHook: map[string][]Warning{}}}
}

// Enabled is the inner handler's answer, and always true for warnings.
func (h *RecentWarnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l)
}

// Handle records a warning about a hook and passes r on when the inner
// handler wants it.
func (h *RecentWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.record(r)
	}
	if !h.inner.Enabled(ctx, r.Level) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h *RecentWarnings) record(r slog.Record) {
	w := Warning{Time: r.Time, Level: r.Level.String(), Message: r.Message}
	var hook string
	take := func(a slog.Attr) bool {
		switch a.Key {
		case "hook":
			hook = a.Value.String()
		case "fire_id":
			w.FireID = a.Value.String()
		case "outcome":
			w.Outcome = a.Value.String()
		case "err":
			w.Err = a.Value.String()
		}
		return true
	}
	for _, a := range h.pre {
		take(a)
	}
	r.Attrs(take)
	if hook == "" {
		return
	}
	h.st.mu.Lock()
	ws := append(h.st.byHook[hook], w)
	if len(ws) > WarningsPerHook {
		ws = append(ws[:0:0], ws[len(ws)-WarningsPerHook:]...)
	}
	h.st.byHook[hook] = ws
	h.st.mu.Unlock()
}

// WithAttrs and WithGroup keep recording into the same store. Attributes
// in a group are not searched: the vocabulary's keys are top-level.
func (h *RecentWarnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &RecentWarnings{inner: h.inner.WithAttrs(attrs), pre: append(append([]slog.Attr(nil), h.pre...), attrs...), st: h.st}
}

func (h *RecentWarnings) WithGroup(name string) slog.Handler {
	return &RecentWarnings{inner: h.inner.WithGroup(name), pre: h.pre, st: h.st}
}

// For returns the recent warnings about hook, oldest first.
func (h *RecentWarnings) For(hook string) []Warning {
	if h == nil {
		return nil
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	return append([]Warning(nil), h.st.byHook[hook]...)
}
