// SPDX-License-Identifier: Apache-2.0

package redact

import (
	"strings"
	"testing"
)

// Token-shaped test values are assembled at run time so that secret
// scanners do not flag this file; none of them is a real credential.
var (
	awsKeyID   = "AKIA" + "IOSFODNN7EXAMPLE" // AWS's documentation example
	awsTempID  = "ASIA" + "Y34FZKBOKMUTVV7A"
	ghClassic  = "gh" + "p_" + strings.Repeat("a1B2", 9)
	ghOAuth    = "gh" + "o_" + strings.Repeat("Z9y8", 9)
	ghUser     = "gh" + "u_" + strings.Repeat("Q0w1", 9)
	ghServer   = "gh" + "s_" + strings.Repeat("E2r3", 9)
	ghRefresh  = "gh" + "r_" + strings.Repeat("T4y5", 10)
	ghFine     = "github" + "_pat_" + "11ABCDEFG0" + strings.Repeat("x", 12) + "_" + strings.Repeat("Yz1", 19) + "ab"
	glToken    = "gl" + "pat-" + "xYz12_AbC-dEf34GhIjKl"
	slackBot   = "xo" + "xb-" + "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	slackUser  = "xo" + "xp-" + "123456789012-123456789012-123456789012-0123456789abcdef0123456789abcdef"
	jwtToken   = "ey" + "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	jwtUnsign  = "ey" + "JhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
	pemBegin   = "-----" + "BEGIN RSA PRIVATE KEY-----"
	pemEnd     = "-----" + "END RSA PRIVATE KEY-----"
	pemBody    = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
	pkcs8Begin = "-----" + "BEGIN PRIVATE KEY-----"
	pkcs8End   = "-----" + "END PRIVATE KEY-----"
)

func TestLineEnvironmentShaped(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"FOO=bar", "FOO=<redacted>"},
		{"DATABASE_URL=postgres://u:p@h/db", "DATABASE_URL=<redacted>"},
		{"_x1=", "_x1=<redacted>"},
		{"FOO==bar", "FOO=<redacted>"},
		{"FOO=bar=baz", "FOO=<redacted>"},
		{"HOME=/root and more text", "HOME=<redacted>"},
		{"  INDENTED=1", "  INDENTED=<redacted>"},
		{"\tTABBED=1", "\tTABBED=<redacted>"},
		{"export PATH=/usr/bin", "export PATH=<redacted>"},
		{"declare -x GOPATH=\"/go\"", "declare -x GOPATH=<redacted>"},
		{"export=1", "export=<redacted>"},
		// A token used as a name is not kept either.
		{awsKeyID + "=x", "<redacted:aws-key-id>=<redacted>"},
		// Not identifiers before the first '=': later rules decide.
		{"1FOO=bar", "1FOO=bar"},
		{"FOO BAR=baz", "FOO BAR=baz"},
		{"=bar", "=bar"},
		{"foo-bar=baz", "foo-bar=baz"},
		{"a.b=c", "a.b=c"},
		{"GET /items?id=42 200", "GET /items?id=42 200"},
		{"x == y", "x == y"},
		{"café=1", "café=1"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLineKeywords(t *testing.T) {
	const marker = "<redacted: matched secret-keyword filter>"
	for _, kw := range keywords {
		for _, in := range []string{
			"prefix " + kw + " suffix",
			"x" + strings.ToUpper(kw) + "y",
			kw,
		} {
			if got := Line(in); got != marker {
				t.Errorf("Line(%q) = %q, want the keyword marker", in, got)
			}
		}
	}
	for _, in := range []string{
		"error: password authentication failed for user bob",
		"Set-Cookie: session=abc",
		"curl -H 'X-Amz-Security-Token: abc'",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host",
		"using Bearer scheme",
		"login: Auth required",
		"aws_secret_access_key: wJalrXUtnFEMI",
		"Authorization: Bearer abc", // keyword beats the in-place rule
		"the author wrote",          // " auth" matches " author": the original rule, kept
	} {
		if got := Line(in); got != marker {
			t.Errorf("Line(%q) = %q, want the keyword marker", in, got)
		}
	}
	// The identifier rule comes first.
	if got := Line("PASSWORD=hunter2"); got != "PASSWORD=<redacted>" {
		t.Errorf("Line(PASSWORD=hunter2) = %q", got)
	}
}

func TestLineTokenShapes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"aws", "using key " + awsKeyID + " for s3", "using key <redacted:aws-key-id> for s3"},
		{"aws temp", "id:" + awsTempID + ".", "id:<redacted:aws-key-id>."},
		{"aws at start", awsKeyID, "<redacted:aws-key-id>"},
		{"github classic", "push with " + ghClassic + " failed", "push with <redacted:github> failed"},
		{"github oauth", "(" + ghOAuth + ")", "(<redacted:github>)"},
		{"github u2s", ghUser, "<redacted:github>"},
		{"github s2s", "x " + ghServer, "x <redacted:github>"},
		{"github refresh", ghRefresh + " y", "<redacted:github> y"},
		{"github fine-grained", "pat " + ghFine, "pat <redacted:github>"},
		{"gitlab", "clone https://oauth2:" + glToken + "@gitlab.example/x.git", "clone https://oauth2:<redacted:gitlab>@gitlab.example/x.git"},
		{"slack bot", "slack " + slackBot + " ok", "slack <redacted:slack> ok"},
		{"slack user", slackUser, "<redacted:slack>"},
		{"jwt", "jwt: " + jwtToken + " expired", "jwt: <redacted:jwt> expired"},
		{"jwt unsigned", "got " + jwtUnsign + " here", "got <redacted:jwt> here"},
		{"authorization header", "Authorization: Basic dXNlcjpwYXNz", "Authorization: <redacted:authorization>"},
		{"authorization lower", "authorization:Digest username=\"a\", response=\"b\"", "authorization:<redacted:authorization>"},
		{"proxy authorization", "Proxy-Authorization: Basic abc", "Proxy-Authorization: <redacted:authorization>"},
		{"authorization json", `{"authorization":"Basic abc","path":"/x"}`, `{"authorization":"<redacted:authorization>","path":"/x"}`},
		{"authorization json spaced", `{"Authorization": "Basic abc", "n": 1}`, `{"Authorization": "<redacted:authorization>", "n": 1}`},
		{"authorization go header map", "hdr map[Authorization:[Basic abc] Accept:[*/*]]", "hdr map[Authorization:<redacted:authorization>"},
		{"authorization unclosed quote", `"authorization": "abc`, `"authorization": "<redacted:authorization>`},
		{"authorization flag", "curl --authorization=abc x", "curl --authorization=<redacted:authorization>"},
		{"authorization empty", "Authorization:", "Authorization:"},
		{"pem marker", "key " + "-----" + "BEGIN DSA PRIVATE KEY-----", "key <redacted:pem>"},
		{"pgp marker", "-----" + "BEGIN PGP PRIVATE KEY BLOCK-----", "<redacted:pem>"},
		{"two tokens", awsKeyID + " and " + ghClassic, "<redacted:aws-key-id> and <redacted:github>"},
		{"adjacent tokens", awsKeyID + "," + ghClassic, "<redacted:aws-key-id>,<redacted:github>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Line(tc.in); got != tc.want {
				t.Errorf("Line(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLineTokenLookalikesSurvive(t *testing.T) {
	for _, in := range []string{
		"AKIA" + "SHORT",                              // too short
		"xAKIA" + "IOSFODNN7EXAMPLE",                  // not at a word start
		"AKIA" + "IOSFODNN7EXAMPLEX",                  // 17 characters
		"ghp_" + "short",                              // too short
		"gh" + "x_" + strings.Repeat("a", 40),         // unknown prefix
		"glpat-" + "short",                            //
		"xox" + "z-1234567890",                        // unknown Slack type
		"eyJ.a.b",                                     // too short for a JWT
		"ASIAN markets rose",                          //
		"HTTP 401 Unauthorized",                       // no " auth", no header
		"----- summary -----",                         //
		"-----" + "BEGIN CERTIFICATE-----",            // public material
		"-----" + "BEGIN PUBLIC KEY-----",             //
		"github_pat_ is the prefix of a fine-grained", // too short
	} {
		if got := Line(in); got != in {
			t.Errorf("Line(%q) = %q, want it unchanged", in, got)
		}
	}
}

// TestOrdinaryLogLinesSurvive pins that everyday stderr, the output an
// operator needs to debug a failing hook, passes through untouched.
func TestOrdinaryLogLinesSurvive(t *testing.T) {
	text := `2026-05-01T12:00:00.123Z INFO hook started pid=4242 event=pre_store
{"level":"info","msg":"started","pid":123,"ns":["a","b"]}
GET /api/v1/items?id=42&limit=10 200 3.2ms
panic: runtime error: index out of range [3] with length 3

goroutine 1 [running]:
main.main()
	/app/main.go:12 +0x1d
exit status 2
Traceback (most recent call last):
  File "/hooks/audit.py", line 7, in <module>
    raise ValueError("bad payload: missing field 'id'")
ValueError: bad payload: missing field 'id'
error: open /etc/hooksupd/hooks.toml: no such file or directory
Error: Cannot find module 'left-pad'
    at Function.Module._resolveFilename (node:internal/modules/cjs/loader:1039:15)
warning: unused variable ` + "`x`" + `
HTTP/1.1 401 Unauthorized
Content-Type: application/json; charset=utf-8
user-agent=curl/8.0 path="/a b" status=500
----- 3 of 5 checks failed -----
checksum sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
ASIA-Pacific region, 128 MiB used, 0.5 CPU
`
	if got := Text(text); got != text {
		t.Errorf("ordinary text changed:\n%s", diffLines(text, got))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("-" + a + "\n+" + c + "\n")
		}
	}
	return b.String()
}

func TestLineIsIdempotent(t *testing.T) {
	for _, in := range []string{
		"FOO=bar", awsKeyID + "=x", "password: x", "x " + ghClassic,
		`{"authorization":"Basic abc"`, "Authorization: x y z", `"authorization": "abc`,
		awsKeyID + " " + jwtToken + " " + slackBot, pemBegin, "plain",
	} {
		once := Line(in)
		if twice := Line(once); twice != once {
			t.Errorf("Line not idempotent on %q: %q then %q", in, once, twice)
		}
	}
}

func TestLineNoAllocWhenClean(t *testing.T) {
	line := "2026-05-01T12:00:00.123Z INFO hook started in 3.2ms, 128 MiB used"
	if n := testing.AllocsPerRun(100, func() { _ = Line(line) }); n != 0 {
		t.Errorf("Line on a clean line allocates %v times", n)
	}
	text := line + "\n" + line + "\n"
	if n := testing.AllocsPerRun(100, func() { _ = Text(text) }); n != 0 {
		t.Errorf("Text on clean text allocates %v times", n)
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"one line", "FOO=bar", "FOO=<redacted>"},
		{"keeps structure", "a\nFOO=bar\n\nb\n", "a\nFOO=<redacted>\n\nb\n"},
		{"crlf", "FOO=bar\r\nok\r\n", "FOO=<redacted>\r\nok\r\n"},
		{"keyword line", "x\nmy password is x\ny", "x\n<redacted: matched secret-keyword filter>\ny"},
		{"tokens in place", "a " + ghClassic + " b\n", "a <redacted:github> b\n"},
		{
			"pem block",
			"before\n" + pemBegin + "\n" + pemBody + "\n" + pemBody + "\n" + pemEnd + "\nafter\n",
			"before\n<redacted:pem>\n<redacted:pem>\n<redacted:pem>\n<redacted:pem>\nafter\n",
		},
		{
			"pem block with text around markers",
			"key: " + pkcs8Begin + "\n" + pemBody + "\n" + pkcs8End + " (done)\n",
			"key: <redacted:pem>\n<redacted:pem>\n<redacted:pem> (done)\n",
		},
		{
			"pem block crlf",
			pemBegin + "\r\n" + pemBody + "\r\n" + pemEnd + "\r\nok\r\n",
			"<redacted:pem>\n<redacted:pem>\n<redacted:pem>\r\nok\r\n",
		},
		{
			"pem one line",
			"k: x " + pemBegin + pemBody + pemEnd + " y",
			"k: x <redacted:pem> y",
		},
		{
			"two blocks",
			pemBegin + "\n" + pemBody + "\n" + pemEnd + "\nmid\n" + pkcs8Begin + "\n" + pemBody + "\n" + pkcs8End,
			"<redacted:pem>\n<redacted:pem>\n<redacted:pem>\nmid\n<redacted:pem>\n<redacted:pem>\n<redacted:pem>",
		},
		{
			"unterminated block redacts to the end",
			"x\n" + pemBegin + "\n" + pemBody + "\n" + pemBody[:10] + "\n",
			"x\n<redacted:pem>\n<redacted:pem>\n<redacted:pem>\n",
		},
		{
			"tail starting inside a block",
			pemBody[20:] + "\n" + pemBody + "\n" + pemEnd + "\nexit status 1\n",
			"<redacted:pem>\n<redacted:pem>\n<redacted:pem>\nexit status 1\n",
		},
		{
			"stray END after a block",
			pemBegin + "\n" + pemEnd + "\nok\n" + pemEnd + "\n",
			"<redacted:pem>\n<redacted:pem>\nok\n<redacted:pem>\n",
		},
		{
			"nested BEGIN stays inside the block",
			pemBegin + "\n" + pkcs8Begin + "\n" + pemEnd + "\nok",
			"<redacted:pem>\n<redacted:pem>\n<redacted:pem>\nok",
		},
		{
			"certificate is not a key",
			"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
			"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Text(tc.in)
			if got != tc.want {
				t.Errorf("Text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if n, m := strings.Count(got, "\n"), strings.Count(tc.in, "\n"); n != m {
				t.Errorf("Text changed the line count: %d -> %d", m, n)
			}
			if again := Text(got); again != got {
				t.Errorf("Text not idempotent: %q -> %q", got, again)
			}
		})
	}
}
