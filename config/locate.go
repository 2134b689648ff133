// SPDX-License-Identifier: Apache-2.0

package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tomlLocator records where every key of a TOML document is written.
//
// The TOML decoder reports positions only for syntax errors and keeps its
// per-key positions private, yet every validation error must point at the
// key it is about. The locator re-reads a document the decoder has already
// accepted, so it only has to follow TOML's structure (tables, arrays of
// tables, dotted keys, inline tables and arrays, the four string forms),
// never to reject anything. It always makes progress, so a document it
// misreads costs a less precise position, never a hang or a panic.
type tomlLocator struct {
	src   string
	i     int
	lines []int          // byte offset of the start of each line
	at    map[string]int // path key -> byte offset of the key (first definition)
	aot   map[string]int // path key of an array of tables -> elements so far
}

// locPath encodes a path (table names, keys and array indices) as a map key.
func locPath(path []string) string { return strings.Join(path, "\x00") }

// locIndex is the path segment of array element i. The \x01 keeps it apart
// from any key, which the decoder never produces with a raw control byte.
func locIndex(i int) string { return "\x01" + strconv.Itoa(i) }

// pathWith returns path+seg in a fresh slice, so paths never share storage.
func locPathWith(path []string, seg string) []string {
	out := make([]string, len(path), len(path)+1)
	copy(out, path)
	return append(out, seg)
}

func newTOMLLocator(src string) *tomlLocator {
	l := &tomlLocator{
		src:   src,
		lines: []int{0},
		at:    make(map[string]int),
		aot:   make(map[string]int),
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	l.document()
	return l
}

// lookup returns the 1-based line and byte column of path.
func (l *tomlLocator) lookup(path []string) (line, col int, ok bool) {
	off, ok := l.at[locPath(path)]
	if !ok {
		return 0, 0, false
	}
	line, col = l.lineCol(off)
	return line, col, true
}

// lineCol turns a byte offset into a 1-based line and byte column, the way
// the TOML decoder reports syntax errors.
func (l *tomlLocator) lineCol(off int) (int, int) {
	n := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > off })
	return n, off - l.lines[n-1] + 1
}

func (l *tomlLocator) record(path []string, off int) {
	k := locPath(path)
	if _, ok := l.at[k]; !ok {
		l.at[k] = off
	}
}

func (l *tomlLocator) eof() bool { return l.i >= len(l.src) }

// skipBlank skips spaces and tabs.
func (l *tomlLocator) skipBlank() {
	for !l.eof() && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.i++
	}
}

// skipSpace skips whitespace, newlines and comments.
func (l *tomlLocator) skipSpace() {
	for !l.eof() {
		switch l.src[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
		case '#':
			for !l.eof() && l.src[l.i] != '\n' {
				l.i++
			}
		default:
			return
		}
	}
}

func (l *tomlLocator) document() {
	var table []string
	for {
		l.skipSpace()
		if l.eof() {
			return
		}
		before := l.i
		if l.src[l.i] == '[' {
			start := l.i
			array := strings.HasPrefix(l.src[l.i:], "[[")
			if array {
				l.i += 2
			} else {
				l.i++
			}
			segs, offs := l.key()
			l.skipBlank()
			if array && strings.HasPrefix(l.src[l.i:], "]]") {
				l.i += 2
			} else if !l.eof() && l.src[l.i] == ']' {
				l.i++
			}
			table = l.header(segs, offs, start, array)
		} else {
			l.keyValue(table)
		}
		if l.i == before {
			l.i++
		}
	}
}

// header resolves a table header to its path: a name that is an array of
// tables so far means its last element, and [[x]] starts a new element.
func (l *tomlLocator) header(segs []string, offs []int, start int, array bool) []string {
	var p []string
	for j, seg := range segs {
		p = locPathWith(p, seg)
		l.record(p, offs[j])
		if array && j == len(segs)-1 {
			k := locPath(p)
			n := l.aot[k]
			l.aot[k] = n + 1
			p = locPathWith(p, locIndex(n))
			l.record(p, start)
		} else if n, ok := l.aot[locPath(p)]; ok {
			p = locPathWith(p, locIndex(n-1))
		}
	}
	return p
}

// keyValue reads `key = value` relative to table.
func (l *tomlLocator) keyValue(table []string) {
	segs, offs := l.key()
	if len(segs) == 0 {
		return
	}
	p := table
	for j, seg := range segs {
		p = locPathWith(p, seg)
		l.record(p, offs[j])
	}
	l.skipBlank()
	if !l.eof() && l.src[l.i] == '=' {
		l.i++
	}
	l.skipBlank()
	l.value(p)
}

// key reads a possibly dotted key and the offset of each part.
func (l *tomlLocator) key() (segs []string, offs []int) {
	for {
		l.skipBlank()
		if l.eof() {
			return segs, offs
		}
		start := l.i
		var seg string
		switch c := l.src[l.i]; {
		case c == '"':
			seg = l.basicString()
		case c == '\'':
			seg = l.literalString()
		case isBareKeyByte(c):
			for !l.eof() && isBareKeyByte(l.src[l.i]) {
				l.i++
			}
			seg = l.src[start:l.i]
		default:
			return segs, offs
		}
		segs = append(segs, seg)
		offs = append(offs, start)
		l.skipBlank()
		if l.eof() || l.src[l.i] != '.' {
			return segs, offs
		}
		l.i++
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the keys of inline tables and the
// positions of array elements below path.
func (l *tomlLocator) value(path []string) {
	if l.eof() {
		return
	}
	switch l.src[l.i] {
	case '"':
		if strings.HasPrefix(l.src[l.i:], `"""`) {
			l.multiline(`"""`, true)
		} else {
			l.basicString()
		}
	case '\'':
		if strings.HasPrefix(l.src[l.i:], `'''`) {
			l.multiline(`'''`, false)
		} else {
			l.literalString()
		}
	case '[':
		l.i++
		for n := 0; ; {
			l.skipSpace()
			if l.eof() {
				return
			}
			switch l.src[l.i] {
			case ']':
				l.i++
				return
			case ',':
				l.i++
				continue
			}
			before := l.i
			p := locPathWith(path, locIndex(n))
			l.record(p, l.i)
			l.value(p)
			n++
			if l.i == before {
				l.i++
			}
		}
	case '{':
		l.i++
		for {
			l.skipSpace()
			if l.eof() {
				return
			}
			switch l.src[l.i] {
			case '}':
				l.i++
				return
			case ',':
				l.i++
				continue
			}
			before := l.i
			l.keyValue(path)
			if l.i == before {
				l.i++
			}
		}
	default:
		// Numbers, booleans and date-times: up to the next delimiter. A
		// date-time may contain a space, so blanks do not end it.
		for !l.eof() && !strings.ContainsRune(",]}#\r\n", rune(l.src[l.i])) {
			l.i++
		}
	}
}

// basicString reads a "..." string and returns its decoded value.
func (l *tomlLocator) basicString() string {
	l.i++ // opening quote
	var b strings.Builder
	for !l.eof() {
		c := l.src[l.i]
		switch {
		case c == '"':
			l.i++
			return b.String()
		case c == '\n':
			return b.String()
		case c == '\\' && l.i+1 < len(l.src):
			l.escape(&b)
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return b.String()
}

// escape decodes one backslash escape at l.i, as TOML 1.1 defines them.
func (l *tomlLocator) escape(b *strings.Builder) {
	c := l.src[l.i+1]
	l.i += 2
	width := 0
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'e':
		b.WriteByte(0x1b)
	case '"', '\\':
		b.WriteByte(c)
	case 'x':
		width = 2
	case 'u':
		width = 4
	case 'U':
		width = 8
	default:
		// A line-ending backslash only occurs in multi-line strings,
		// which are skipped, not decoded.
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	if width == 0 {
		return
	}
	if l.i+width > len(l.src) {
		return
	}
	r, err := strconv.ParseUint(l.src[l.i:l.i+width], 16, 32)
	if err != nil || !utf8.ValidRune(rune(r)) {
		return
	}
	l.i += width
	b.WriteRune(rune(r))
}

// literalString reads a '...' string.
func (l *tomlLocator) literalString() string {
	l.i++
	start := l.i
	for !l.eof() && l.src[l.i] != '\'' && l.src[l.i] != '\n' {
		l.i++
	}
	s := l.src[start:l.i]
	if !l.eof() && l.src[l.i] == '\'' {
		l.i++
	}
	return s
}

// multiline skips a """ or ”' string, including the up to two quotes
// TOML allows right before the closing delimiter.
func (l *tomlLocator) multiline(delim string, escapes bool) {
	l.i += 3
	for !l.eof() {
		if escapes && l.src[l.i] == '\\' {
			l.i += 2
			continue
		}
		if strings.HasPrefix(l.src[l.i:], delim) {
			l.i += 3
			for k := 0; k < 2 && !l.eof() && l.src[l.i] == delim[0]; k++ {
				l.i++
			}
			return
		}
		l.i++
	}
}
