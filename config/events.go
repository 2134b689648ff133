// SPDX-License-Identifier: Apache-2.0

package config

import (
	"regexp"
	"time"
)

// Deadline classes of the built-in events. They bound the whole chain of
// one fire, not a single hook (a hook's own bound is its timeout_ms).
const (
	writeDeadline   = 5000 * time.Millisecond
	readDeadline    = 2000 * time.Millisecond
	indexDeadline   = 1000 * time.Millisecond
	hotPathDeadline = 50 * time.Millisecond
)

// Event classes. "custom" is the class of every [[event]] declaration.
const (
	classWrite   = "write"
	classRead    = "read"
	classIndex   = "index"
	classHotPath = "hot_path"
	classCustom  = "custom"
)

// builtinEvents is the seed's 22-event catalog, in the seed's order.
var builtinEvents = []Event{
	writeClassEvent("pre_store"),
	writeClassEvent("post_store"),
	readClassEvent("post_recall"),
	readClassEvent("post_search"),
	writeClassEvent("pre_delete"),
	writeClassEvent("post_delete"),
	writeClassEvent("pre_promote"),
	writeClassEvent("post_promote"),
	writeClassEvent("pre_link"),
	writeClassEvent("post_link"),
	writeClassEvent("pre_consolidate"),
	writeClassEvent("post_consolidate"),
	writeClassEvent("pre_governance_decision"),
	writeClassEvent("post_governance_decision"),
	{Name: "on_index_eviction", Class: classIndex, Deadline: indexDeadline},
	{Name: "pre_recall_expand", Class: classHotPath, Deadline: hotPathDeadline},
	writeClassEvent("pre_reflect"),
	writeClassEvent("post_reflect"),
	writeClassEvent("pre_compaction"),
	writeClassEvent("on_compaction_rollback"),
	writeClassEvent("pre_signal_send"),
	writeClassEvent("post_signal_ack"),
}

func writeClassEvent(name string) Event {
	return Event{Name: name, Class: classWrite, Deadline: writeDeadline}
}
func readClassEvent(name string) Event {
	return Event{Name: name, Class: classRead, Deadline: readDeadline}
}

// daemonByDefault are the seed's hot-path events: a process spawn per fire
// would eat most of their budget, so their hooks run as daemons unless the
// hook says otherwise.
var daemonByDefault = map[string]bool{
	"post_recall":       true,
	"post_search":       true,
	"pre_recall_expand": true,
}

// requirableEvents are the built-in events the presence gate may require.
// They are the seed's pre-events minus pre_recall_expand, whose fire site
// is a read path that cannot fail closed without breaking recall.
var requirableEvents = map[string]bool{
	"pre_store":               true,
	"pre_delete":              true,
	"pre_promote":             true,
	"pre_link":                true,
	"pre_consolidate":         true,
	"pre_governance_decision": true,
	"pre_reflect":             true,
	"pre_signal_send":         true,
	"pre_compaction":          true,
}

// requirableList is requirableEvents in catalog order, for messages.
const requirableList = "pre_store, pre_delete, pre_promote, pre_link, pre_consolidate, " +
	"pre_governance_decision, pre_reflect, pre_signal_send, pre_compaction"

func init() {
	for i := range builtinEvents {
		e := &builtinEvents[i]
		// The seed's rule: pre_* events are decision points whose hooks may
		// also rewrite the payload; post_* and on_* events happen after the
		// fact, so their hooks can only observe.
		e.Pre = len(e.Name) > 4 && e.Name[:4] == "pre_"
		e.Kind = KindNotify
		if e.Pre {
			e.Kind = KindDecision
		}
		e.DefaultMode = ModeExec
		if daemonByDefault[e.Name] {
			e.DefaultMode = ModeDaemon
		}
		e.MemoryDelta = true
	}
}

// BuiltinEvents returns the seed's 22 events keyed by name. The map is a
// fresh copy on every call, so callers may add to it.
func BuiltinEvents() map[string]Event {
	m := make(map[string]Event, len(builtinEvents))
	for _, e := range builtinEvents {
		m[e.Name] = e
	}
	return m
}

// eventNameRE is the shape of a custom event name: snake_case, as the
// seed's wire names are.
var eventNameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// maxEventNameLen keeps "<event>-<index>", the default hook name, within
// the 64 bytes a hook name (a cgroup directory) may have.
const maxEventNameLen = 48
