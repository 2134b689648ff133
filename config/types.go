// SPDX-License-Identifier: Apache-2.0

package config

import (
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// Mode is how a hook's children run.
type Mode string

const (
	// ModeExec starts one child per fire.
	ModeExec Mode = "exec"
	// ModeDaemon keeps one long-lived child per hook and exchanges one
	// NDJSON line per fire.
	ModeDaemon Mode = "daemon"
)

// FailMode decides what an executor error turns into.
type FailMode string

const (
	// FailOpen turns an error into Allow (and records it).
	FailOpen FailMode = "open"
	// FailClosed turns an error into Deny 503 (504 when the class deadline
	// was exhausted before the hook ran).
	FailClosed FailMode = "closed"
)

// EventKind says whether an event's hooks can change the outcome.
type EventKind string

const (
	// KindDecision events honour deny, modify (when Pre) and ask_user.
	KindDecision EventKind = "decision"
	// KindNotify events are notify-only: deny is logged only and modify is
	// downgraded to allow, because the side effect already happened.
	KindNotify EventKind = "notify"
)

// Event is one entry of the event catalog: a built-in seed event or one
// declared with [[event]].
type Event struct {
	Name string
	// Class is the seed's deadline class ("write", "read", "index",
	// "hot_path") or "custom".
	Class string
	// Deadline bounds the whole chain of one fire.
	Deadline time.Duration
	Kind     EventKind
	// Pre reports whether Modify decisions are honoured.
	Pre bool
	// DefaultMode applies to hooks that do not set mode.
	DefaultMode Mode
	// MemoryDelta reports that modify deltas are typed as the seed's
	// MemoryDelta (known fields type-checked, unknown keys dropped). False
	// for custom events, whose deltas are any JSON object.
	MemoryDelta bool
}

// Position is a place in a config file, 1-based.
type Position struct {
	File   string
	Line   int
	Column int
}

// Hook is one [[hook]] block after decoding, defaulting and validation.
type Hook struct {
	// Name is unique within the config; defaults to "<event>-<index>".
	Name      string
	Event     string
	Command   string
	Args      []string
	Env       map[string]string
	PassEnv   []string
	Dir       string
	Priority  int32
	Timeout   time.Duration
	Mode      Mode
	Enabled   bool
	Namespace string
	FailMode  FailMode
	// MaxConcurrency bounds concurrent exec-mode children; 0 = unbounded.
	// hooks.toml's default for exec hooks is DefaultMaxConcurrency().
	MaxConcurrency int
	// StdoutMaxBytes caps stdout per fire (exec) or per line (daemon).
	StdoutMaxBytes int
	// StderrTailBytes is the size of the stderr ring kept for the log.
	StderrTailBytes int
	Limits          Limits
	AllowUncapped   bool
	User            string
	Group           string
	// UID and GID are User and Group resolved when the config is loaded
	// (numeric ids are taken as written). UID means something only when
	// User is set; GID when User or Group is set (with User alone it is
	// the user's primary group).
	UID uint32
	GID uint32
	// DynamicUser says UID was allocated for this hook from [supervisor]
	// dynamic_users because it names no user and hooksupd runs as root.
	// GID is the same id, unless the hook names a group.
	DynamicUser bool
	// Sandbox is [hook.sandbox] and capabilities.
	Sandbox supervisor.Sandbox
	// Index is the 0-based position of the block in the file; ties in
	// priority keep file order.
	Index int
	// Pos is where the block starts.
	Pos Position
}

// Limits are a hook's [hook.limits]: the caps its whole process tree
// runs under. A zero field means "not capped".
type Limits struct {
	// MemoryMax is the memory limit of the tree in bytes (swap is held at
	// zero alongside it).
	MemoryMax int64
	// CPUQuota is the CPU time the tree may use per CPUPeriod.
	CPUQuota time.Duration
	// CPUPeriod is the accounting period for CPUQuota; 0 means 100ms.
	CPUPeriod time.Duration
	// PidsMax caps the number of tasks in the tree.
	PidsMax int64
	// NoFile is RLIMIT_NOFILE (soft and hard) of the hook's processes.
	NoFile uint64
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// Enforce is the [enforce] table: the seed's presence-gate presence gate.
type Enforce struct {
	Mode           string // "off", "advisory", "enforce"
	RequiredEvents []string
}

// Policy is the [policy] table: the spawn gate.
type Policy struct {
	AllowCommands []string // path globs; empty allows all absolute paths
	DenyCommands  []string // path globs
	// StrictModes refuses commands (and their directories) that are group-
	// or world-writable or not owned by root or the service user. Default
	// true.
	StrictModes bool
}

// SupervisorConfig is the [supervisor] table.
type SupervisorConfig struct {
	Backend      string // "auto", "linux", "portable"
	CgroupParent string
	// DaemonStopGrace is the SIGTERM grace for daemon children (default 2s).
	DaemonStopGrace time.Duration
	// DynamicUsers is the uid/gid range ("FIRST-LAST"; "default", the
	// default, is dynuser.DefaultRange) that hooks naming no user run as
	// when hooksupd runs as root, one id per hook. There is no way to turn
	// it off: a hook runs as root only with user = "root" written out.
	DynamicUsers string
}

// Config is a loaded hooks.toml.
type Config struct {
	Path       string
	Hooks      []Hook
	Events     map[string]Event
	Enforce    Enforce
	Policy     Policy
	Supervisor SupervisorConfig
	Server     ServerConfig
}

// ServerConfig is the [server] table, used by `hooksupd serve`.
type ServerConfig struct {
	Socket      string // default /run/hooksupd/hooksupd.sock
	SocketGroup string // owner group of the socket (mode 0660)
	AllowUIDs   []uint32
	AllowGIDs   []uint32
	// MetricsListen is a TCP address or unix socket path; empty = off.
	MetricsListen      string
	MaxLineBytes       int           // default 1 MiB
	MaxInflightPerConn int           // default 256
	MaxInflight        int           // default 4096
	DrainTimeout       time.Duration // default 10s
}
