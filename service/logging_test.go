// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type journalEntry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

// A record becomes a journal entry: the level as priority, the attributes
// as upper-case fields (durations as _USEC), groups and With attributes
// qualified, reserved fields kept the journal's, and the message followed
// by the attributes for journalctl's default view.
func TestJournalHandlerEntry(t *testing.T) {
	var got []journalEntry
	h := NewJournalHandler(slog.LevelDebug, func(msg string, p journal.Priority, vars map[string]string) error {
		got = append(got, journalEntry{msg, p, vars})
		return nil
	})
	log := slog.New(h).With("conn_uid", 1000)
	log.Warn("hooks: chain hook errored", "hook", "tagger", "event", "pre_store", "fire_id", "3f9a0c1d-1a",
		"outcome", "timeout", "duration", 1500*time.Millisecond, "child_pid", 4242, "err", errors.New("hook timed out"),
		"message", "sneaky", "namespace", "team/a b")
	log.WithGroup("req").Info("ok", "op", "fire", slog.Group("limits", "memory", 64))
	log.Debug("d")
	log.Error("e")
	if len(got) != 4 {
		t.Fatalf("%d entries, want 4", len(got))
	}
	e := got[0]
	want := map[string]string{"HOOK": "tagger", "EVENT": "pre_store", "FIRE_ID": "3f9a0c1d-1a", "OUTCOME": "timeout",
		"DURATION_USEC": "1500000", "CHILD_PID": "4242", "ERR": "hook timed out", "CONN_UID": "1000",
		"ATTR_MESSAGE": "sneaky", "NAMESPACE": "team/a b", "SYSLOG_IDENTIFIER": "hooksupd"}
	for k, v := range want {
		if e.vars[k] != v {
			t.Errorf("field %s = %q, want %q (all: %v)", k, e.vars[k], v, e.vars)
		}
	}
	if e.pri != journal.PriWarning {
		t.Errorf("warn priority %d, want %d", e.pri, journal.PriWarning)
	}
	if !strings.HasPrefix(e.msg, "hooks: chain hook errored conn_uid=1000 hook=tagger") ||
		!strings.Contains(e.msg, " duration=1.5s ") || !strings.Contains(e.msg, `namespace="team/a b"`) {
		t.Errorf("message %q", e.msg)
	}
	if v := got[1].vars; v["REQ_OP"] != "fire" || v["REQ_LIMITS_MEMORY"] != "64" || v["CONN_UID"] != "1000" || got[1].pri != journal.PriInfo {
		t.Errorf("grouped entry: %d %v", got[1].pri, v)
	}
	if got[2].pri != journal.PriDebug || got[3].pri != journal.PriErr {
		t.Errorf("priorities debug %d error %d", got[2].pri, got[3].pri)
	}

	info := NewJournalHandler(slog.LevelInfo, func(string, journal.Priority, map[string]string) error { return nil })
	if info.Enabled(t.Context(), slog.LevelDebug) || !info.Enabled(t.Context(), slog.LevelWarn) {
		t.Error("level not honoured")
	}
}

func TestJournalFieldNames(t *testing.T) {
	for in, want := range map[string]string{"fire_id": "FIRE_ID", "child-pid": "CHILD_PID", "_secret": "SECRET",
		"9lives": "ATTR_9LIVES", "PRIORITY": "ATTR_PRIORITY", "a.b": "A_B", "": "ATTR_"} {
		if got := journalField(in); got != want {
			t.Errorf("journalField(%q) = %q, want %q", in, got, want)
		}
	}
}

// JSON logs print durations as Go durations, not nanoseconds; an unknown
// format is refused.
func TestLogHandlerFormats(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: readableDurations})
	slog.New(h).Info("x", "duration", 1500*time.Microsecond)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["duration"] != "1.5ms" {
		t.Errorf("json duration: %v %v (%s)", m["duration"], err, buf.String())
	}
	if _, _, err := NewLogHandler("xml", slog.LevelInfo, nil); err == nil || !strings.Contains(err.Error(), "invalid log format") {
		t.Errorf("xml: %v", err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if _, chosen, err := NewLogHandler(LogAuto, slog.LevelInfo, nil); err != nil || chosen != LogText {
		t.Errorf("auto outside systemd: %s, %v; want text", chosen, err)
	}
}
