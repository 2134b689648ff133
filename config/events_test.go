// SPDX-License-Identifier: Apache-2.0

package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The catalog is exactly the seed's 22 events (docs/seed-compatibility.md).
func TestBuiltinEvents(t *testing.T) {
	type row struct {
		class    string
		deadline time.Duration
		pre      bool
	}
	w, r := 5000*time.Millisecond, 2000*time.Millisecond
	want := map[string]row{
		"pre_store": {"write", w, true}, "post_store": {"write", w, false},
		"post_recall": {"read", r, false}, "post_search": {"read", r, false},
		"pre_delete": {"write", w, true}, "post_delete": {"write", w, false},
		"pre_promote": {"write", w, true}, "post_promote": {"write", w, false},
		"pre_link": {"write", w, true}, "post_link": {"write", w, false},
		"pre_consolidate": {"write", w, true}, "post_consolidate": {"write", w, false},
		"pre_governance_decision": {"write", w, true}, "post_governance_decision": {"write", w, false},
		"on_index_eviction": {"index", 1000 * time.Millisecond, false},
		"pre_recall_expand": {"hot_path", 50 * time.Millisecond, true},
		"pre_reflect":       {"write", w, true}, "post_reflect": {"write", w, false},
		"pre_compaction": {"write", w, true}, "on_compaction_rollback": {"write", w, false},
		"pre_signal_send": {"write", w, true}, "post_signal_ack": {"write", w, false},
	}
	got := BuiltinEvents()
	require.Len(t, got, 22)
	classes := map[string]int{}
	pres := 0
	for name, ev := range got {
		wr, ok := want[name]
		require.True(t, ok, "unexpected event %q", name)
		assert.Equal(t, name, ev.Name)
		assert.Equal(t, wr.class, ev.Class, name)
		assert.Equal(t, wr.deadline, ev.Deadline, name)
		assert.Equal(t, wr.pre, ev.Pre, name)
		if wr.pre {
			assert.Equal(t, KindDecision, ev.Kind, name)
			pres++
		} else {
			assert.Equal(t, KindNotify, ev.Kind, name)
		}
		wantMode := ModeExec
		if name == "post_recall" || name == "post_search" || name == "pre_recall_expand" {
			wantMode = ModeDaemon
		}
		assert.Equal(t, wantMode, ev.DefaultMode, name)
		assert.True(t, ev.MemoryDelta, name)
		classes[ev.Class]++
	}
	// The seed's counts: Write 18, Read 2, Index 1, HotPath 1; 10 pre-events.
	assert.Equal(t, map[string]int{"write": 18, "read": 2, "index": 1, "hot_path": 1}, classes)
	assert.Equal(t, 10, pres)

	// Nine of the pre-events may be required; pre_recall_expand may not.
	assert.Len(t, requirableEvents, 9)
	for name := range requirableEvents {
		assert.True(t, got[name].Pre, name)
	}
	assert.False(t, requirableEvents["pre_recall_expand"])

	// Every call returns a fresh map.
	got["pre_store"] = Event{}
	delete(got, "post_store")
	assert.Equal(t, "pre_store", BuiltinEvents()["pre_store"].Name)
	assert.Len(t, BuiltinEvents(), 22)
}

func TestEventNameShape(t *testing.T) {
	for _, ok := range []string{"a", "pre_deploy", "on_build2_done", "x1"} {
		assert.True(t, eventNameRE.MatchString(ok), ok)
	}
	for _, bad := range []string{"", "_a", "a_", "a__b", "A", "pre-deploy", "1a", "a b", "é"} {
		assert.False(t, eventNameRE.MatchString(bad), bad)
	}
}
