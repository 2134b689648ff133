// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cfgDecoder turns the decoded TOML tree into a Config, collecting every
// problem with its position instead of stopping at the first.
type cfgDecoder struct {
	file string
	loc  *tomlLocator
	errs []FieldError
}

// cfgTable is one TOML table being decoded strictly: every key must be
// taken by a getter, and finish reports the rest as unknown.
type cfgTable struct {
	d    *cfgDecoder
	m    map[string]any
	path []string // locator path of the table
	hook string   // [[hook]] name for errors, "" outside hooks
	// field is the error path of the table: relative to the hook block
	// inside hooks, from the top of the file otherwise.
	field string
	pos   Position
	used  map[string]bool
	// known lists the keys the table accepts, for "did you mean".
	known []string
}

// position returns where path is written, or fallback when the locator
// did not record it.
func (d *cfgDecoder) position(path []string, fallback Position) Position {
	if line, col, ok := d.loc.lookup(path); ok {
		return Position{File: d.file, Line: line, Column: col}
	}
	return fallback
}

// table starts strict decoding of the table m found at path.
func (d *cfgDecoder) table(m map[string]any, path []string, hook, field string, known ...string) *cfgTable {
	return &cfgTable{
		d:     d,
		m:     m,
		path:  path,
		hook:  hook,
		field: field,
		pos:   d.position(path, Position{File: d.file, Line: 1, Column: 1}),
		used:  make(map[string]bool),
		known: known,
	}
}

// cfgFieldJoin appends a key to a field path, quoting it when it is not a
// bare TOML key so that the path reads back unambiguously.
func cfgFieldJoin(field, key string) string {
	k := key
	if k == "" || strings.IndexFunc(k, func(r rune) bool { return r > 127 || !isBareKeyByte(byte(r)) }) >= 0 {
		k = strconv.Quote(key)
	}
	if field == "" {
		return k
	}
	return field + "." + k
}

// cfgFieldIndex names element i of the array at field.
func cfgFieldIndex(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// errAt records an error about key.
func (t *cfgTable) errAt(key string, format string, args ...any) {
	t.d.errs = append(t.d.errs, FieldError{
		Pos:   t.d.position(locPathWith(t.path, key), t.pos),
		Hook:  t.hook,
		Field: cfgFieldJoin(t.field, key),
		Msg:   fmt.Sprintf(format, args...),
	})
}

// errElem records an error about element i of the array at key.
func (t *cfgTable) errElem(key string, i int, format string, args ...any) {
	p := locPathWith(t.path, key)
	t.d.errs = append(t.d.errs, FieldError{
		Pos:   t.d.position(locPathWith(p, locIndex(i)), t.d.position(p, t.pos)),
		Hook:  t.hook,
		Field: cfgFieldIndex(cfgFieldJoin(t.field, key), i),
		Msg:   fmt.Sprintf(format, args...),
	})
}

// errMissing records a required key that is absent, at the table itself.
func (t *cfgTable) errMissing(key, hint string) {
	t.d.errs = append(t.d.errs, FieldError{
		Pos:   t.pos,
		Hook:  t.hook,
		Field: cfgFieldJoin(t.field, key),
		Msg:   "required key is missing" + hint,
	})
}

// get returns the value at key and marks the key as known.
func (t *cfgTable) get(key string) (any, bool) {
	v, ok := t.m[key]
	if ok {
		t.used[key] = true
	}
	return v, ok
}

// cfgTypeName names a decoded TOML value's type for messages.
func cfgTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	case nil:
		return "empty"
	default:
		return "a date-time"
	}
}

func (t *cfgTable) wrongType(key string, want string, v any) {
	t.errAt(key, "must be %s, not %s", want, cfgTypeName(v))
}

// str returns the string at key; ok is false when it is absent or not a
// string (the latter is reported).
func (t *cfgTable) str(key string) (string, bool) {
	v, ok := t.get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(key, "a string", v)
		return "", false
	}
	if strings.IndexByte(s, 0) >= 0 {
		t.errAt(key, "must not contain a NUL byte")
		return "", false
	}
	return s, true
}

// integer returns the integer at key.
func (t *cfgTable) integer(key string) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.wrongType(key, "an integer", v)
		return 0, false
	}
	return n, true
}

// intRange returns the integer at key if it is within lo..hi.
func (t *cfgTable) intRange(key string, lo, hi int64) (int64, bool) {
	n, ok := t.integer(key)
	if !ok {
		return 0, false
	}
	switch {
	case n < lo:
		t.errAt(key, "%s", cfgBelowMinimum(strconv.FormatInt(n, 10), lo, strconv.FormatInt(lo, 10)))
		return 0, false
	case n > hi:
		t.errAt(key, "%d exceeds the maximum %d", n, hi)
		return 0, false
	}
	return n, true
}

func (t *cfgTable) boolean(key string) (bool, bool) {
	v, ok := t.get(key)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		t.wrongType(key, "a boolean (true or false)", v)
		return false, false
	}
	return b, true
}

// array returns the elements of the array at key.
func (t *cfgTable) array(key string) ([]any, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	switch a := v.(type) {
	case []any:
		return a, true
	case []map[string]any:
		out := make([]any, len(a))
		for i, m := range a {
			out[i] = m
		}
		return out, true
	}
	t.wrongType(key, "an array", v)
	return nil, false
}

// strList returns the array of strings at key; every bad element is
// reported and the result is only ok when all are good.
func (t *cfgTable) strList(key string) ([]string, bool) {
	a, ok := t.array(key)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(a))
	good := true
	for i, v := range a {
		s, isStr := v.(string)
		switch {
		case !isStr:
			t.errElem(key, i, "must be a string, not %s", cfgTypeName(v))
			good = false
		case strings.IndexByte(s, 0) >= 0:
			t.errElem(key, i, "must not contain a NUL byte")
			good = false
		default:
			out = append(out, s)
		}
	}
	return out, good
}

// enum returns the string at key if it is one of allowed.
func (t *cfgTable) enum(key string, allowed ...string) (string, bool) {
	s, ok := t.str(key)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	t.errAt(key, "%q is not one of %s", s, strings.Join(allowed, ", "))
	return "", false
}

// size returns the byte size at key: an integer or a ParseSize string,
// within lo..hi.
func (t *cfgTable) size(key string, lo, hi int64) (int64, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	var n int64
	switch s := v.(type) {
	case int64:
		n = s
	case string:
		var err error
		if n, err = ParseSize(s); err != nil {
			t.errAt(key, "%v", err)
			return 0, false
		}
	default:
		t.wrongType(key, `a size (bytes, or a string such as "64M")`, v)
		return 0, false
	}
	if n < lo {
		t.errAt(key, "%s", cfgBelowMinimum(cfgFmtSize(n), lo, cfgFmtSize(lo)))
		return 0, false
	}
	if n > hi {
		t.errAt(key, "%s exceeds the maximum %s", cfgFmtSize(n), cfgFmtSize(hi))
		return 0, false
	}
	return n, true
}

// cfgBelowMinimum words a too-small value n against the minimum lo.
func cfgBelowMinimum(n string, lo int64, los string) string {
	switch lo {
	case 0:
		return "must not be negative"
	case 1:
		return "must be > 0"
	}
	return fmt.Sprintf("%s is below the minimum %s", n, los)
}

// cfgFmtSize prints a byte count with the largest exact binary unit.
func cfgFmtSize(n int64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.s)
		}
	}
	return strconv.FormatInt(n, 10)
}

// duration returns the Go duration string at key, within 0..hi.
func (t *cfgTable) duration(key string, hi time.Duration) (time.Duration, bool) {
	v, ok := t.get(key)
	if !ok {
		return 0, false
	}
	s, isStr := v.(string)
	if !isStr {
		t.wrongType(key, `a duration string such as "2s" or "500ms"`, v)
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		t.errAt(key, "%q is not a duration (want e.g. \"2s\" or \"500ms\")", s)
		return 0, false
	}
	if d < 0 {
		t.errAt(key, "must not be negative")
		return 0, false
	}
	if d > hi {
		t.errAt(key, "%s exceeds the maximum %s", d, hi)
		return 0, false
	}
	return d, true
}

// sub returns the table at key.
func (t *cfgTable) sub(key string, known ...string) (*cfgTable, bool) {
	v, ok := t.get(key)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.wrongType(key, "a table", v)
		return nil, false
	}
	return t.d.table(m, locPathWith(t.path, key), t.hook, cfgFieldJoin(t.field, key), known...), true
}

// finish reports every key no getter took.
func (t *cfgTable) finish() {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		if !t.used[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s := cfgSuggest(k, t.known); s != "" {
			t.errAt(k, "unknown key (did you mean %q?)", s)
		} else {
			t.errAt(k, "unknown key")
		}
	}
}

// cfgSuggest returns the known key closest to k, if it is a likely typo.
func cfgSuggest(k string, known []string) string {
	best, bestDist := "", math.MaxInt
	lk := strings.ToLower(k)
	for _, c := range known {
		// About one edit per five characters, or a truncated key
		// ("timeout" for "timeout_ms").
		d := cfgEditDistance(lk, c)
		if len(lk) >= 4 && strings.HasPrefix(c, lk) {
			d = min(d, 1)
		}
		if d <= 1+len(c)/5 && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// cfgEditDistance is the Levenshtein distance between a and b.
func cfgEditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
