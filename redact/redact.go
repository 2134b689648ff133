// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"bytes"
	"regexp"
	"strings"
)

const (
	// valueMarker replaces the value of an environment-shaped line.
	valueMarker = "<redacted>"
	// keywordLineMarker replaces a whole line that contains a secret keyword.
	// It contains the keyword "secret" itself, which keeps Line idempotent.
	keywordLineMarker = "<redacted: matched secret-keyword filter>"
	// pemMarker replaces each line of a PEM private-key block.
	pemMarker = "<redacted:pem>"
)

// keywords are matched case-insensitively anywhere in a line. " auth" has a
// leading space so that words such as "author" at the start of a line or
// "oauth" inside one do not trigger it. The list is the one of the executor
// hooksupd re-creates; the markers this package writes must never contain
// one of them (except keywordLineMarker), or redacting twice would differ
// from redacting once.
var keywords = []string{
	"secret", "password", "passwd", "token", "api_key", "apikey", "bearer",
	"private_key", "private-key", " auth", "credential", "cookie", "x-amz-",
	"aws_", "ssh-rsa", "ssh-ed25519", "begin private", "begin rsa", "begin ec",
	"begin openssh",
}

// tokenRE finds every token shape in one left-to-right scan, so replacing one
// match can never cut another in half. Each alternative starts at a word
// boundary and its tail absorbs every letter and digit that follows, so the
// text next to a replacement cannot turn into a new match on a second pass.
// The kind names in the markers avoid every keyword (e.g. "aws-key-id", not
// "aws_…"; "github", not "…token").
var tokenRE = regexp.MustCompile(strings.Join([]string{
	// AWS access key ids: long-term (AKIA) and temporary (ASIA).
	`(?P<aws>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)`,
	// GitHub classic (ghp_ personal, gho_ OAuth, ghu_ user-to-server,
	// ghs_ server-to-server, ghr_ refresh) and fine-grained tokens.
	`(?P<github>\bgh[pousr]_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{22,})`,
	`(?P<gitlab>\bglpat-[A-Za-z0-9_-]{20,})`,
	`(?P<slack>\bxox[abposr]-[A-Za-z0-9-]{10,})`,
	// JWT: base64url header, payload and (possibly empty) signature; the
	// header is JSON, so it starts with `{"` = "eyJ".
	`(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)`,
	// Authorization / Proxy-Authorization header or field: the name and
	// separator stay, the value goes. A quoted value ends at its closing
	// quote; an unquoted one runs to the end of the line, because schemes
	// such as Digest carry several comma-separated credentials.
	`(?i:\b(?P<authkey>authorization["']?[ \t]*[:=][ \t]*)(?P<authval>"[^"\n]*"?|'[^'\n]*'?|[^\s"'].*))`,
	// A PEM private-key marker (PKCS#1, PKCS#8, SEC1, OpenSSH, PGP). Text
	// removes the block between the markers; Line sees one line only.
	`(?P<pem>(?i:-----(?:BEGIN|END) (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----))`,
}, "|"))

// kindGroups maps a capture group of tokenRE to the marker that replaces it.
var kindGroups = func() []struct {
	group  int
	marker string
} {
	var out []struct {
		group  int
		marker string
	}
	for _, k := range []struct{ name, kind string }{
		{"aws", "aws-key-id"}, {"github", "github"}, {"gitlab", "gitlab"},
		{"slack", "slack"}, {"jwt", "jwt"}, {"pem", "pem"},
	} {
		out = append(out, struct {
			group  int
			marker string
		}{tokenRE.SubexpIndex(k.name), "<redacted:" + k.kind + ">"})
	}
	return out
}()

var (
	authKeyGroup = tokenRE.SubexpIndex("authkey")
	authValGroup = tokenRE.SubexpIndex("authval")
)

const authMarker = "<redacted:authorization>"

// tokenHints are substrings that every token shape contains; a line holding
// none of them skips the regular expression, which keeps ordinary log lines
// cheap. "authorization" is checked separately, case-insensitively.
var tokenHints = []string{
	"AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
	"glpat-", "xox", "eyJ", "-----",
}

// Line redacts one line of text (without its newline). The rules, in order:
//
//  1. If the text before the first '=' is an identifier, optionally after
//     leading blanks and "export " or "declare -x ", the line becomes
//     NAME=<redacted> (with that prefix kept).
//  2. Otherwise, if the line contains a secret keyword (case-insensitive),
//     it becomes "<redacted: matched secret-keyword filter>".
//  3. Otherwise each token shape (AWS key id, GitHub / GitLab / Slack token,
//     JWT, Authorization value, PEM private-key marker) is replaced in place
//     by <redacted:KIND>.
//
// A line with nothing to redact is returned unchanged, without allocating.
// Line is idempotent: Line(Line(s)) == Line(s). A private key's body lines
// are invisible to Line; use [Text] on multi-line input.
func Line(s string) string {
	if prefix, name, ok := envName(s); ok {
		return prefix + redactTokens(name) + "=" + valueMarker
	}
	if hasKeyword(s) {
		return keywordLineMarker
	}
	return redactTokens(s)
}

// envName reports whether s is an environment-shaped line: the text before
// the first '=' is an identifier, optionally preceded by blanks and by
// "export " or "declare -x " (shell `export -p` output). prefix is the text
// before the identifier.
func envName(s string) (prefix, name string, ok bool) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return "", "", false
	}
	head := s[:eq]
	rest := strings.TrimLeft(head, " \t")
	for _, kw := range [...]string{"export ", "declare -x "} {
		if strings.HasPrefix(rest, kw) {
			rest = strings.TrimLeft(rest[len(kw):], " \t")
			break
		}
	}
	if !isIdent(rest) {
		return "", "", false
	}
	return head[:len(head)-len(rest)], rest, true
}

// isIdent reports whether s matches [A-Za-z_][A-Za-z0-9_]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// hasKeyword reports whether s contains a keyword, ignoring ASCII case.
// Unicode case folding is deliberately not applied: the keywords are ASCII
// and the original executor matched them the same way. Lines up to 1 KiB
// are lowered in a stack buffer, so the common case does not allocate.
func hasKeyword(s string) bool {
	var stack [1024]byte
	lower := stack[:0]
	if len(s) > len(stack) {
		lower = make([]byte, 0, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	for _, kw := range keywordBytes {
		if bytes.Contains(lower, kw) {
			return true
		}
	}
	return false
}

var keywordBytes = func() [][]byte {
	out := make([][]byte, len(keywords))
	for i, kw := range keywords {
		out[i] = []byte(kw)
	}
	return out
}()

// mayContainToken is a cheap pre-filter for tokenRE.
func mayContainToken(s string) bool {
	for _, h := range tokenHints {
		if strings.Contains(s, h) {
			return true
		}
	}
	return containsFold(s, "authorization")
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring ASCII case, without allocating.
func containsFold(s, sub string) bool {
	first, upper := sub[0], sub[0]-('a'-'A')
	for i := 0; i+len(sub) <= len(s); i++ {
		if c := s[i]; c != first && c != upper {
			continue
		}
		j := 1
		for ; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

// redactTokens replaces every token shape in s by its marker.
func redactTokens(s string) string {
	if !mayContainToken(s) {
		return s
	}
	matches := tokenRE.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range matches {
		b.WriteString(s[last:m[0]])
		last = m[1]
		if m[2*authKeyGroup] >= 0 {
			b.WriteString(s[m[2*authKeyGroup]:m[2*authKeyGroup+1]])
			val := s[m[2*authValGroup]:m[2*authValGroup+1]]
			// Keep the quotes around a quoted value so the surrounding
			// JSON or header stays well-formed (and a second pass finds
			// the same shape and writes the same text).
			if q := val[0]; q == '"' || q == '\'' {
				b.WriteByte(q)
				b.WriteString(authMarker)
				if len(val) > 1 && val[len(val)-1] == q {
					b.WriteByte(q)
				}
			} else {
				b.WriteString(authMarker)
			}
			continue
		}
		for _, k := range kindGroups {
			if m[2*k.group] >= 0 {
				b.WriteString(k.marker)
				break
			}
		}
	}
	b.WriteString(s[last:])
	return b.String()
}
