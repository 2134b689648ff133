// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// ladderBackend fails Start with errs in order, then succeeds (returning
// a nil Process: spawn only passes it through).
type ladderBackend struct {
	mu       sync.Mutex
	errs     []error
	attempts int
	forever  error // returned once errs are used up, when set
}

func (b *ladderBackend) Start(ctx context.Context, spec *supervisor.Spec) (supervisor.Process, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts++
	if len(b.errs) > 0 {
		err := b.errs[0]
		b.errs = b.errs[1:]
		return nil, err
	}
	if b.forever != nil {
		return nil, b.forever
	}
	return nil, nil
}
func (b *ladderBackend) Mechanisms() supervisor.Mechanisms  { return supervisor.Mechanisms{} }
func (b *ladderBackend) CanEnforce(supervisor.Limits) error { return nil }
func (b *ladderBackend) Close() error                       { return nil }
func spawnErrno(errno syscall.Errno) error                  { return &supervisor.SpawnError{Path: "/h", Err: errno} }
func isSpawnErr(err error) bool                             { return errors.Is(err, ErrSpawn) }
func ladderLog() *slog.Logger                               { return slog.New(slog.DiscardHandler) }
func ladderSpec() *supervisor.Spec {
	return &supervisor.Spec{Pipes: supervisor.PipeAll, Name: "h", Path: "/h"}
}

func TestSpawnLadderRetriesTransient(t *testing.T) {
	b := &ladderBackend{errs: []error{spawnErrno(syscall.EAGAIN), spawnErrno(syscall.ETXTBSY)}}
	start := time.Now()
	if _, err := spawn(context.Background(), b, ladderSpec(), ladderLog(), nil); err != nil {
		t.Fatal(err)
	}
	if b.attempts != 3 {
		t.Errorf("attempts = %d, want 3", b.attempts)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("slept %v, want >= 10+50 ms", d)
	}
}

func TestSpawnLadderNotTransient(t *testing.T) {
	b := &ladderBackend{errs: []error{spawnErrno(syscall.ENOENT)}}
	_, err := spawn(context.Background(), b, ladderSpec(), ladderLog(), nil)
	if !isSpawnErr(err) || !errors.Is(err, fs.ErrNotExist) || b.attempts != 1 {
		t.Errorf("err %v after %d attempts", err, b.attempts)
	}
}

func TestSpawnLadderExhausted(t *testing.T) {
	b := &ladderBackend{forever: spawnErrno(syscall.EMFILE)}
	start := time.Now()
	_, err := spawn(context.Background(), b, ladderSpec(), ladderLog(), nil)
	if !isSpawnErr(err) || !errors.Is(err, syscall.EMFILE) || b.attempts != 5 {
		t.Errorf("err %v after %d attempts", err, b.attempts)
	}
	if d := time.Since(start); d < 1260*time.Millisecond {
		t.Errorf("ladder took %v, want the full 1.26 s", d)
	}
}

// TestSpawnLadderInsideDeadline: the ladder never outlives the fire
// (docs/seed-compatibility.md: the seed's ladder ran outside timeout_ms).
func TestSpawnLadderInsideDeadline(t *testing.T) {
	b := &ladderBackend{forever: spawnErrno(syscall.EAGAIN)}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := spawn(ctx, b, ladderSpec(), ladderLog(), nil)
	if !errors.Is(err, ErrTimeout) || KindOf(err).String() != "timeout" {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
	if b.attempts != 3 { // 0, 10, 60 ms; the 200 ms sleep is cut short
		t.Errorf("attempts = %d", b.attempts)
	}
}

// supervisorFailure is a start failure of the supervisor's machinery, as
// the Linux backend reports one (an interrupted limit write, a launcher
// that died).
type supervisorFailure struct{}

func (supervisorFailure) Error() string {
	return "group for h: write memory.max: interrupted system call"
}
func (supervisorFailure) Unwrap() []error {
	return []error{supervisor.ErrSupervisor, supervisor.ErrSpawn, syscall.EINTR}
}

// TestSpawnRetriesSupervisorFailures: a failure of the supervisor's own
// machinery is retried within the deadline and counted, never handed to
// the hook at the first try; when it persists, its kind is "supervisor",
// apart from the hooks' own spawn failures.
func TestSpawnRetriesSupervisorFailures(t *testing.T) {
	b := &ladderBackend{errs: []error{supervisorFailure{}, supervisorFailure{}}}
	retries := 0
	if _, err := spawn(context.Background(), b, ladderSpec(), ladderLog(), func() { retries++ }); err != nil {
		t.Fatalf("spawn after two supervisor failures: %v", err)
	}
	if b.attempts != 3 || retries != 2 {
		t.Errorf("attempts %d, retries counted %d; want 3 and 2", b.attempts, retries)
	}

	b = &ladderBackend{forever: supervisorFailure{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	retries = 0
	_, err := spawn(ctx, b, ladderSpec(), ladderLog(), func() { retries++ })
	if KindOf(err) != KindSupervisor || KindOf(err).String() != "supervisor" || !errors.Is(err, ErrSpawn) {
		t.Errorf("persistent supervisor failure: %v (kind %s), want kind supervisor", err, KindOf(err))
	}
	if b.attempts != 5 || retries != 4 {
		t.Errorf("attempts %d, retries %d; want the whole ladder (5, 4)", b.attempts, retries)
	}
	m := NewHookMetrics()
	m.SupervisorRetry()
	if s := m.Snapshot(); s.SupervisorRetries != 1 {
		t.Errorf("snapshot SupervisorRetries %d, want 1", s.SupervisorRetries)
	}
}
