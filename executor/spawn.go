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

// spawn starts spec on b, retrying transient errors along spawnBackoff
// within ctx. It returns the last spawn error unchanged when the ladder is
// exhausted or the error is not transient, and an ErrTimeout error when
// ctx ends first.
func spawn(ctx context.Context, b supervisor.Backend, spec *supervisor.Spec, log *slog.Logger) (supervisor.Process, error) {
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
		if attempt >= len(spawnBackoff) || !transientSpawnError(err) {
			return nil, err
		}
		wait := spawnBackoff[attempt]
		log.Debug("hooks: transient spawn errno, retrying after backoff",
			"hook", spec.Name, "err", err, "attempt", attempt+1, "backoff", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
