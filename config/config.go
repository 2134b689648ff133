// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxConfigBytes bounds what Load reads: a hooks.toml is a few kilobytes,
// and a runaway file should not be read into memory whole.
const maxConfigBytes = 8 << 20

// FieldError is one problem in a config file, at the key it is about.
type FieldError struct {
	// Pos is where the offending key (or array element, or the block a
	// required key is missing from) is written.
	Pos Position
	// Hook is the name of the [[hook]] block the key belongs to, "" for
	// keys outside hooks.
	Hook string
	// Field is the key's path: relative to the hook block for hook keys
	// ("timeout_ms", "limits.memory_max", "args[1]"), otherwise from the
	// top of the file ("server.max_inflight", "event[0].deadline_ms"). It
	// is "" for syntax errors.
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error renders the error as `file:line:col: hook "name": field: msg`. For
// keys outside hooks the first element of Field takes the place of the
// hook part: `hooks.toml:3:1: server: max_inflight: must be > 0`.
func (e FieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.Pos.File, e.Pos.Line, e.Pos.Column)
	field := e.Field
	if e.Hook != "" {
		fmt.Fprintf(&b, "hook %q: ", e.Hook)
	} else if head, rest, ok := splitFieldHead(field); ok {
		b.WriteString(head)
		b.WriteString(": ")
		field = rest
	}
	if field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// splitFieldHead splits a field path at its first '.' outside quotes.
func splitFieldHead(f string) (head, rest string, ok bool) {
	quoted := false
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '.':
			if !quoted {
				return f[:i], f[i+1:], true
			}
		}
	}
	return "", f, false
}

// ConfigError lists every problem found in a config file, sorted by
// position. A file with any problem is rejected whole: running with some
// hooks silently missing would be worse than not starting.
type ConfigError struct {
	Errors []FieldError
}

// Error joins the problems, one per line.
func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads and parses the hooks.toml at path. A missing file is an error
// (it wraps fs.ErrNotExist), so a typo in a path cannot silently turn all
// hooks off; an empty file is a valid config with no hooks. Errors in the
// file come back as a *ConfigError naming the file by its base name.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hooks config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hooks config: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("hooks config: %s is larger than %d bytes", path, maxConfigBytes)
	}
	cfg, err := Parse(filepath.Base(path), data)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// Parse decodes and validates a hooks.toml held in memory; file names it in
// error positions. The seed's format (a list of [[hook]] blocks with event,
// command, priority, timeout_ms, mode, enabled, namespace and fail_mode)
// loads unchanged; everything else is an optional extension. Decoding is
// strict: unknown keys, wrong types and bad values are errors, and every
// error in the file is reported (as a *ConfigError), not just the first.
func Parse(file string, data []byte) (*Config, error) {
	if file == "" {
		file = "hooks.toml"
	}
	src := cfgStripBOM(string(data))
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		fe := FieldError{Pos: Position{File: file, Line: 1, Column: 1}, Msg: "invalid TOML: " + err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			fe.Msg = "invalid TOML: " + pe.Message
			// The byte offset is the decoder's most precise report; its Col
			// is not always set for errors found after lexing.
			if off := pe.Position.Start; off >= 0 && off <= len(src) {
				fe.Pos.Line = 1 + strings.Count(src[:off], "\n")
				fe.Pos.Column = off - (strings.LastIndexByte(src[:off], '\n') + 1) + 1
			} else {
				fe.Pos.Line, fe.Pos.Column = max(pe.Position.Line, 1), max(pe.Position.Col, 1)
			}
		}
		return nil, &ConfigError{Errors: []FieldError{fe}}
	}
	d := &cfgDecoder{file: file, loc: newTOMLLocator(src)}
	cfg := d.decode(raw)
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i].Pos, d.errs[j].Pos
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &ConfigError{Errors: d.errs}
	}
	return cfg, nil
}

// cfgStripBOM drops a byte-order mark the way the TOML decoder does, so that
// both count columns from the same byte.
func cfgStripBOM(s string) string {
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if strings.HasPrefix(s, bom) {
			return s[len(bom):]
		}
	}
	return s
}

// HooksFor returns the enabled hooks of event in chain order: priority
// descending, ties in file order. The slice is the caller's to keep.
// It does not apply the [enforce] fail_mode override; the chain does.
func (c *Config) HooksFor(event string) []Hook {
	var out []Hook
	for _, h := range c.Hooks {
		if h.Enabled && h.Event == event {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Index < out[j].Index
	})
	return out
}
