// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

// plan is one hook compiled for the registry: everything a fire needs that
// does not depend on the payload, computed once when a config generation
// is built, so that a fire does no hashing, no user lookups and no map
// building. A plan is immutable once made; executors share it across the
// generations that keep the hook unchanged.
type plan struct {
	hook config.Hook
	// mode is the hook's mode with an unset mode resolved from its event.
	mode config.Mode
	// key names the executor: the hook's name plus a fingerprint of every
	// field that shapes its child (see planKey).
	key string
	// spec is the child's spec. Backend.Start neither keeps nor changes a
	// Spec, so every fire passes the same one.
	spec       supervisor.Spec
	stdoutMax  int
	stderrTail int
	// memoryDelta: modify deltas are typed as the built-in events' memory
	// delta (see ParseDecision).
	memoryDelta bool
}

// compile makes the plan of h under the event catalog events. lookup
// reads the supervisor's environment for pass_env (os.LookupEnv).
func compile(h *config.Hook, events map[string]config.Event, lookup func(string) (string, bool)) *plan {
	p := &plan{hook: *h, mode: h.Mode, stdoutMax: h.StdoutMaxBytes, stderrTail: h.StderrTailBytes}
	ev, known := events[h.Event]
	if p.mode == "" {
		p.mode = config.ModeExec
		if known && ev.DefaultMode != "" {
			p.mode = ev.DefaultMode
		}
	}
	p.memoryDelta = known && ev.MemoryDelta
	if p.stdoutMax <= 0 {
		p.stdoutMax = MaxDecisionLine
	}
	if p.stderrTail <= 0 {
		p.stderrTail = defaultStderrTail
	}
	p.key = planKey(h, p.mode)
	p.spec = supervisor.Spec{
		Name:          h.Name,
		Path:          h.Command,
		Args:          h.Args,
		Env:           childEnv(h, h.Event, lookup),
		Dir:           h.Dir,
		Limits:        supervisorLimits(h.Limits),
		AllowUncapped: h.AllowUncapped,
		Credential:    credential(h),
		Sandbox:       h.Sandbox,
		// The executor speaks the hook protocol over all three streams
		// and drains them (exec.go, daemon.go).
		Pipes: supervisor.PipeAll,
	}
	return p
}

// supervisorLimits converts the config's limits to the supervisor's.
func supervisorLimits(l config.Limits) supervisor.Limits {
	return supervisor.Limits{
		MemoryMax: l.MemoryMax,
		CPUQuota:  l.CPUQuota,
		CPUPeriod: l.CPUPeriod,
		PidsMax:   l.PidsMax,
		NoFile:    l.NoFile,
	}
}

// credential is the user and group the hook's children run as, from the
// ids the config resolved when it was loaded; nil when the hook sets
// neither. A group without a user keeps the supervisor's uid; a user
// without a group runs with the user's primary group (the config refuses a
// numeric uid without passwd entry and without group). Supplementary
// groups are dropped.
func credential(h *config.Hook) *supervisor.Credential {
	if h.DynamicUser {
		// GID is the dynamic id, or the hook's group.
		return &supervisor.Credential{UID: h.UID, GID: h.GID, Groups: []uint32{}}
	}
	if h.User == "" && h.Group == "" {
		return nil
	}
	cred := &supervisor.Credential{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Groups: []uint32{}}
	if h.User != "" {
		cred.UID, cred.GID = h.UID, h.GID
	}
	if h.Group != "" {
		cred.GID = h.GID
	}
	return cred
}

// planKey is the hook's name plus a fingerprint of every field that
// affects its child. Fields that only steer the chain (priority, timeout,
// fail_mode, namespace, enabled, position) are left out on purpose: a
// reload that changes them must not restart a daemon. mode is the
// resolved mode, so an unset mode and the event's default key alike. It is
// computed once per hook and generation, never per fire.
func planKey(h *config.Hook, mode config.Mode) string {
	fp := struct {
		Event           string
		Command         string
		Args            []string
		Env             map[string]string
		PassEnv         []string
		Dir             string
		Mode            config.Mode
		MaxConcurrency  int
		StdoutMaxBytes  int
		StderrTailBytes int
		Limits          config.Limits
		AllowUncapped   bool
		User, Group     string
		UID, GID        uint32
		Sandbox         supervisor.Sandbox
	}{h.Event, h.Command, h.Args, h.Env, h.PassEnv, h.Dir, mode, h.MaxConcurrency,
		h.StdoutMaxBytes, h.StderrTailBytes, h.Limits, h.AllowUncapped, h.User, h.Group, h.UID, h.GID, h.Sandbox}
	b, err := json.Marshal(fp) // maps marshal with sorted keys: stable
	if err != nil {
		panic("executor: hook fingerprint: " + err.Error()) // plain data; cannot fail
	}
	sum := sha256.Sum256(b)
	return h.Name + "\x00" + hex.EncodeToString(sum[:16])
}
