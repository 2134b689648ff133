// SPDX-License-Identifier: Apache-2.0

package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-systemd/v22/journal"
)

// The service's logs (docs/logging.md): text or JSON on stderr, or, under
// systemd, native journal entries whose priority is the level and whose
// fields are the attributes (HOOK=, EVENT=, FIRE_ID=, OUTCOME=,
// DURATION_USEC=, CHILD_PID=, ...), so that `journalctl -p warning` and
// `journalctl HOOK=name` find a hook's lines. Durations print as Go
// durations ("12.3ms") in text and JSON alike, never as integer
// nanoseconds.

// Log formats of NewLogHandler.
const (
	LogAuto    = "auto"    // journal under systemd, else text
	LogText    = "text"    // key=value lines
	LogJSON    = "json"    // one JSON object a line
	LogJournal = "journal" // native journal entries
)

// NewLogHandler returns the handler for format on stderr. auto picks the
// journal when stderr is the journal stream systemd set up for the
// service ($JOURNAL_STREAM names stderr's device and inode, so a service
// whose stderr was redirected elsewhere keeps writing there) and the
// journal's socket answers; chosen says which format it picked.
func NewLogHandler(format string, level slog.Leveler, stderr *os.File) (h slog.Handler, chosen string, err error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}
	switch format {
	case LogAuto, "":
		if underJournal(stderr) {
			return NewJournalHandler(level, nil), LogJournal, nil
		}
		return slog.NewTextHandler(stderr, opts), LogText, nil
	case LogText:
		return slog.NewTextHandler(stderr, opts), LogText, nil
	case LogJSON:
		return slog.NewJSONHandler(stderr, opts), LogJSON, nil
	case LogJournal:
		if !journal.Enabled() {
			return nil, "", fmt.Errorf("log format journal: the journal's socket does not answer (is systemd-journald running?)")
		}
		return NewJournalHandler(level, nil), LogJournal, nil
	}
	return nil, "", fmt.Errorf("invalid log format %q (want auto, text, json or journal)", format)
}

// underJournal reports whether stderr is systemd's journal stream.
func underJournal(stderr *os.File) bool {
	if os.Getenv("JOURNAL_STREAM") == "" || stderr != os.Stderr {
		return false
	}
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok && journal.Enabled()
}

// readableDurations prints durations as strings ("1.5s") in JSON too.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// JournalSend is journal.Send's signature; tests give a fake.
type JournalSend func(message string, priority journal.Priority, vars map[string]string) error

// JournalHandler writes records as native journal entries: PRIORITY from
// the level (error 3, warning 4, info 6, debug 7), MESSAGE the message
// followed by the attributes as key=value (what `journalctl` shows by
// default), and one field per attribute, its key upper-cased with groups
// joined by "_" (fire_id -> FIRE_ID); a duration becomes KEY_USEC in whole
// microseconds, as systemd's own fields are. An entry the journal refuses
// is written to stderr as text instead, so nothing is lost silently.
type JournalHandler struct {
	level    slog.Leveler
	send     JournalSend
	attrs    []slog.Attr // pre-qualified by group
	group    string      // prefix for attrs added later, "" or "G_"
	fallback slog.Handler
}

// NewJournalHandler returns a JournalHandler at level; send nil is
// journal.Send.
func NewJournalHandler(level slog.Leveler, send JournalSend) *JournalHandler {
	if send == nil {
		send = journal.Send
	}
	if level == nil {
		level = slog.LevelInfo
	}
	return &JournalHandler{level: level, send: send,
		fallback: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations})}
}

// Enabled reports whether level is logged.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs returns a handler that adds attrs to every entry.
func (h *JournalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), qualify(h.group, attrs)...)
	n.fallback = h.fallback.WithAttrs(attrs)
	return &n
}

// WithGroup returns a handler whose later attributes are in group name.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "_"
	n.fallback = h.fallback.WithGroup(name)
	return &n
}

// Handle sends r to the journal.
func (h *JournalHandler) Handle(ctx context.Context, r slog.Record) error {
	msg, vars := h.entry(r)
	if err := h.send(msg, journalPriority(r.Level), vars); err != nil {
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

// entry renders r as a journal message and fields.
func (h *JournalHandler) entry(r slog.Record) (string, map[string]string) {
	attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
	attrs = append(attrs, h.attrs...)
	var own []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		own = append(own, a)
		return true
	})
	attrs = append(attrs, qualify(h.group, own)...)
	vars := make(map[string]string, len(attrs)+1)
	vars["SYSLOG_IDENTIFIER"] = "hooksupd"
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range attrs {
		v := a.Value.Resolve()
		if a.Key == "" {
			continue
		}
		field := journalField(a.Key)
		switch v.Kind() {
		case slog.KindDuration:
			d := v.Duration()
			vars[field+"_USEC"] = strconv.FormatInt(d.Microseconds(), 10)
			b.WriteString(" " + a.Key + "=" + d.String())
			continue
		case slog.KindTime:
			vars[field] = v.Time().Format(time.RFC3339Nano)
		default:
			vars[field] = v.String()
		}
		s := vars[field]
		if s == "" || strings.ContainsAny(s, " \"=") {
			s = strconv.Quote(s)
		}
		b.WriteString(" " + a.Key + "=" + s)
	}
	return b.String(), vars
}

// qualify resolves groups: a group attribute's members become attributes
// named "group_key", and every key gets prefix.
func qualify(prefix string, attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "_"
			}
			out = append(out, qualify(p, v.Group())...)
			continue
		}
		out = append(out, slog.Attr{Key: prefix + a.Key, Value: v})
	}
	return out
}

// reservedFields are journal fields an attribute must not overwrite.
var reservedFields = map[string]bool{"MESSAGE": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"MESSAGE_ID": true, "CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true}

// journalField turns an attribute key into a journal field name: upper
// case letters, digits and "_", not starting with "_" or a digit (fields
// starting with "_" are the journal's trusted ones).
func journalField(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(unicode.ToUpper(r))
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	f := strings.TrimLeft(b.String(), "_")
	if f == "" || (f[0] >= '0' && f[0] <= '9') || reservedFields[f] {
		f = "ATTR_" + f
	}
	if len(f) > 64 {
		f = f[:64]
	}
	return f
}

// journalPriority maps a slog level to a syslog priority.
func journalPriority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
