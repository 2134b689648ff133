// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// The log vocabulary of the runtime (docs/logging.md lists it): every
// line about a fire carries hook, event, fire_id and, where they apply,
// namespace, outcome (allow, modify, deny, ask_user or the error kind),
// duration, child_pid and err. A journal handler turns them into the
// fields HOOK=, EVENT=, FIRE_ID=, NAMESPACE=, OUTCOME=, DURATION_USEC=,
// CHILD_PID=, ERR=.

// namespaceAttr is the namespace attribute of a fire's lines: the one
// namespace, or the list joined by commas.
func namespaceAttr(ns []string) slog.Attr {
	switch len(ns) {
	case 1:
		return slog.String("namespace", ns[0])
	}
	return slog.String("namespace", strings.Join(ns, ","))
}

// childPidOf is the pid of the child that served the current hook, 0 when
// none was started.
func childPidOf(fi *fireInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.childPid.Load()
}

// successBurst and successEvery bound the info lines about a hook's
// answers: errors are always logged, but a hook answering thousands of
// fires a second would otherwise flood the journal (which then rate-limits
// the whole service, errors included: journald's RateLimitBurst). Up to
// successBurst answers per successEvery window are logged; the first line
// of the next window says how many it left out (suppressed=N), so the
// counts stay exact and the metrics carry every fire.
const (
	successBurst = 20
	successEvery = time.Second
)

// successLog is one hook's budget of success lines.
type successLog struct {
	mu         sync.Mutex
	window     time.Time
	logged     int
	suppressed uint64
}

// take reports whether this success may be logged, and how many were
// left out since the last one that was.
func (l *successLog) take() (uint64, bool) {
	if l == nil {
		return 0, true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= successEvery {
		l.window, l.logged = now, 0
	}
	if l.logged >= successBurst {
		l.suppressed++
		return 0, false
	}
	l.logged++
	n := l.suppressed
	l.suppressed = 0
	return n, true
}
