// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"regexp"
	"strings"
)

// pemRE finds PEM private-key markers. A marker never spans lines.
var pemRE = regexp.MustCompile(`(?i)-----(BEGIN|END) (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`)

// Text redacts multi-line text, such as a stderr tail: every line goes
// through [Line], and a PEM private-key block is removed across lines, each
// of its lines becoming "<redacted:pem>". Text keeps the line structure: the
// output has as many newlines as the input, and a line's trailing "\r" is
// kept.
//
// Text errs on the side of removing too much where a key block is cut off:
// a BEGIN marker without an END redacts to the end of the text, and an END
// marker before any BEGIN (a tail that starts inside a key) redacts from the
// start of the text.
//
// Text with nothing to redact returns s unchanged. Like Line, it is
// idempotent.
func Text(s string) string {
	if strings.Contains(s, "-----") {
		s = redactPEMBlocks(s)
	}
	var b *strings.Builder // allocated at the first line that changes
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		line := s[start:end]
		cr := strings.HasSuffix(line, "\r")
		if cr {
			line = line[:len(line)-1]
		}
		out := Line(line)
		if out != line && b == nil {
			b = &strings.Builder{}
			b.Grow(len(s))
			b.WriteString(s[:start])
		}
		if b != nil {
			b.WriteString(out)
			if cr {
				b.WriteByte('\r')
			}
			if end < len(s) {
				b.WriteByte('\n')
			}
		}
		start = end + 1
	}
	if b == nil {
		return s
	}
	return b.String()
}

// redactPEMBlocks replaces each PEM private-key block, markers included, by
// one pemMarker per line it spans. Text outside the blocks, including text
// before BEGIN and after END on the same line, is kept for Line to judge.
func redactPEMBlocks(s string) string {
	marks := pemRE.FindAllStringSubmatchIndex(s, -1)
	if marks == nil {
		return s
	}
	isBegin := func(m []int) bool { return s[m[2]] == 'B' || s[m[2]] == 'b' }
	var b strings.Builder
	b.Grow(len(s))
	last := 0 // s[:last] has been written
	for i := 0; i < len(marks); {
		from := marks[i][0]
		if !isBegin(marks[i]) {
			if i > 0 {
				// A stray END after a complete block; Line replaces
				// the marker itself.
				i++
				continue
			}
			// The text starts inside a key: everything up to this END.
			from = 0
		} else {
			// Find the END that closes this block; BEGINs inside it
			// are part of the block.
			i++
			for i < len(marks) && isBegin(marks[i]) {
				i++
			}
		}
		var to int
		if i < len(marks) {
			to = marks[i][1]
			i++
		} else {
			// No END: keep the final newline so a trailing "\n" does not
			// gain a marker line after it.
			to = len(strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"))
			if to < from {
				to = from
			}
		}
		b.WriteString(s[last:from])
		b.WriteString(pemMarker)
		for n := strings.Count(s[from:to], "\n"); n > 0; n-- {
			b.WriteString("\n" + pemMarker)
		}
		last = to
	}
	b.WriteString(s[last:])
	return b.String()
}
