// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// spawnBackoff is the seed's retry ladder for transient spawn errors
// (docs/seed-compatibility.md, spawn retries): no sleep before the first attempt, then these sleeps, so at
// most five attempts and about 1.26 s of sleep. Unlike the seed, every
// sleep is inside the fire's ctx: the ladder ends the moment the fire's
// budget does.
var spawnBackoff = [...]time.Duration{
	10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond, time.Second,
}

// transientSpawnError reports errnos worth retrying: the process table or
// memory is momentarily short (EAGAIN, ENOMEM), the supervisor is out of
// fds (EMFILE), or the program file is still open for writing (ETXTBSY,
// golang/go#22315).
func transientSpawnError(err error) bool {
	for _, e := range [...]syscall.Errno{syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE, syscall.ETXTBSY} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// retryable reports a start failure worth trying again: a transient errno,
// or a failure of the supervisor's own machinery (supervisor.ErrSupervisor:
// a group or limit write, a launcher that died), which is not the hook's
// doing and must not become its error while the fire's deadline allows
// another try.
func retryable(err error) bool {
	return transientSpawnError(err) || errors.Is(err, supervisor.ErrSupervisor)
}

// spawn starts spec on b, retrying retryable errors along spawnBackoff
// within ctx; retried (may be nil) is called before each retry of a
// supervisor failure, for the hook's metrics.
// It returns the last spawn error unchanged when the ladder is exhausted
// or the error is not retryable, and an ErrTimeout error when ctx ends
// first.
func spawn(ctx context.Context, b supervisor.Backend, spec *supervisor.Spec, log *slog.Logger, retried func()) (supervisor.Process, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				return nil, &hookError{kind: ErrTimeout, msg: "hook timed out before it could be spawned", cause: err}
			}
			return nil, &hookError{kind: ErrTimeout, msg: "hook timed out retrying spawn (last error: " + boundedText(last.Error()) + ")", cause: err}
		}
		p, err := b.Start(ctx, spec)
		if err == nil {
			return p, nil
		}
		last = err
		if attempt >= len(spawnBackoff) || !retryable(err) {
			return nil, err
		}
		wait := spawnBackoff[attempt]
		if errors.Is(err, supervisor.ErrSupervisor) {
			if retried != nil {
				retried()
			}
			log.Warn("hooks: supervisor failure starting a hook, retrying",
				"hook", spec.Name, "err", err, "attempt", attempt+1, "backoff", wait)
		} else {
			log.Debug("hooks: transient spawn errno, retrying after backoff",
				"hook", spec.Name, "err", err, "attempt", attempt+1, "backoff", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
