// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"
)

// Every fire has an id: it is in the fire's Result, in the trace a client
// asks for, and in every log line the fire writes (key fire_id), so one
// line of a journal leads to the fire, and a reply to its lines. An id is
// the process's random prefix and a counter, "3f9a0c1d-1a": unique for
// the life of a process, unlike any id of an earlier run, cheap to make,
// and short enough to type into `journalctl FIRE_ID=…`.

var (
	fireIDPrefix = func() string {
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails on Linux; zeros would still be a valid prefix
		return hex.EncodeToString(b[:]) + "-"
	}()
	fireIDSeq atomic.Uint64
)

// NewFireID returns a new fire id.
func NewFireID() string {
	var buf [8 + 1 + 16]byte
	b := append(buf[:0], fireIDPrefix...)
	return string(strconv.AppendUint(b, fireIDSeq.Add(1), 16))
}

type fireInfoKey struct{}

// fireInfo is what a fire's context carries for its log lines: the id,
// and the pid of the child serving the hook that runs now, which the
// executor sets and the chain reads for its line about the hook.
type fireInfo struct {
	id       string
	childPid atomic.Int64
	// The figures of the current hook's tree, once an exec child is gone.
	hasRes atomic.Bool
	cpuNs  atomic.Int64
	peak   atomic.Int64
}

// reset clears what the previous hook of the chain left.
func (fi *fireInfo) reset() {
	fi.childPid.Store(0)
	fi.hasRes.Store(false)
}

// setResources records the current hook's tree figures.
func setResources(ctx context.Context, cpu time.Duration, peak int64) {
	if fi := fireInfoFrom(ctx); fi != nil {
		fi.cpuNs.Store(int64(cpu))
		fi.peak.Store(peak)
		fi.hasRes.Store(true)
	}
}

// WithFireID returns ctx carrying id as the fire id: Dispatcher.Fire uses
// it instead of making one, so a caller that logs about the fire before it
// starts can use the same id.
func WithFireID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, fireInfoKey{}, &fireInfo{id: id})
}

// FireIDFrom returns the fire id ctx carries, or "".
func FireIDFrom(ctx context.Context) string {
	if fi := fireInfoFrom(ctx); fi != nil {
		return fi.id
	}
	return ""
}

func fireInfoFrom(ctx context.Context) *fireInfo {
	fi, _ := ctx.Value(fireInfoKey{}).(*fireInfo)
	return fi
}

// setChildPid records the pid of the child serving the current hook.
func setChildPid(ctx context.Context, pid int) {
	if fi := fireInfoFrom(ctx); fi != nil {
		fi.childPid.Store(int64(pid))
	}
}
