// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"regexp"
	"strings"
	"testing"
)

// secretShapes are the token shapes that must never survive redaction. The
// Authorization rule is checked separately: its name legitimately stays.
var secretShapes = regexp.MustCompile(strings.Join([]string{
	`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`,
	`\bgh[pousr]_[A-Za-z0-9]{36}`,
	`\bgithub_pat_[A-Za-z0-9_]{22}`,
	`\bglpat-[A-Za-z0-9_-]{20}`,
	`\bxox[abposr]-[A-Za-z0-9-]{10}`,
	`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.`,
	`(?i)-----(?:BEGIN|END) (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`,
}, "|"))

var authValues = regexp.MustCompile(`(?i)\bauthorization["']?[ \t]*[:=][ \t]*(?:"[^"\n]*"?|'[^'\n]*'?|[^\s"'].*)`)

func seedCorpus(f *testing.F) {
	for _, s := range []string{
		"", "plain text", "FOO=bar", "  export FOO=bar", "1=2", "=", "a=b=c",
		"my password is x", "the author", "x AUTH y",
		"key " + awsKeyID + " end", awsKeyID + "=x", "x" + awsKeyID,
		ghClassic + awsKeyID, awsKeyID + ghClassic, "(" + ghFine + ")",
		glToken + "-" + slackBot, jwtToken + "." + jwtToken, jwtUnsign,
		"Authorization: Basic abc", `{"authorization":"x","b":"` + ghOAuth + `"}`,
		`"authorization": "`, "authorization:", "Proxy-Authorization:x",
		pemBegin + "\n" + pemBody + "\n" + pemEnd + "\n",
		pemBody + "\n" + pemEnd, pemBegin + pemEnd + pemBegin,
		"a\r\nFOO=b\r\n", "\n\n\r\n", "\xff\xfe" + awsKeyID,
		"-----" + "BEGIN ENCRYPTED PRIVATE KEY-----x",
	} {
		f.Add(s)
	}
}

func checkNoSecrets(t *testing.T, in, out string) {
	t.Helper()
	if m := secretShapes.FindString(out); m != "" {
		t.Fatalf("secret %q survives redaction\n in: %q\nout: %q", m, in, out)
	}
	for _, m := range authValues.FindAllString(out, -1) {
		if !strings.Contains(m, authMarker) {
			t.Fatalf("authorization value %q survives redaction\n in: %q\nout: %q", m, in, out)
		}
	}
}

// FuzzLine checks that Line never panics, leaves no secret shape behind and
// is idempotent.
func FuzzLine(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		checkNoSecrets(t, s, out)
		if again := Line(out); again != out {
			t.Fatalf("not idempotent\n in: %q\n 1st: %q\n 2nd: %q", s, out, again)
		}
		if !strings.Contains(s, "\n") && strings.Contains(out, "\n") {
			t.Fatalf("Line added a newline: %q -> %q", s, out)
		}
	})
}

// FuzzText checks that Text never panics, keeps the line count, leaves no
// secret shape behind and is idempotent.
func FuzzText(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		checkNoSecrets(t, s, out)
		if n, m := strings.Count(out, "\n"), strings.Count(s, "\n"); n != m {
			t.Fatalf("line count %d -> %d\n in: %q\nout: %q", m, n, s, out)
		}
		if again := Text(out); again != out {
			t.Fatalf("not idempotent\n in: %q\n 1st: %q\n 2nd: %q", s, out, again)
		}
	})
}

func BenchmarkLineClean(b *testing.B) {
	line := "2026-05-01T12:00:00.123Z INFO hook audit finished in 3.2ms (128 MiB, exit 0)"
	for b.Loop() {
		_ = Line(line)
	}
}

func BenchmarkLineToken(b *testing.B) {
	line := "2026-05-01T12:00:00.123Z ERROR push failed with " + ghClassic + " (403)"
	for b.Loop() {
		_ = Line(line)
	}
}

func BenchmarkText4KiB(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 4096 {
		sb.WriteString("2026-05-01T12:00:00.123Z INFO step ok in 3.2ms\n")
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_ = Text(text)
	}
}
