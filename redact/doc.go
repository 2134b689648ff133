// SPDX-License-Identifier: Apache-2.0

// Package redact strips secrets from hook stderr before it reaches an
// operator log, and keeps a bounded tail of that stderr.
//
// A hook's stderr is untrusted text that may echo its environment or the
// credentials it was handed (`printenv >&2; exit 1`). hooksupd therefore never
// shows stderr to a socket client, and stderr that it logs goes through
// [Text] or [Line] first. The rules are those of the hook executor hooksupd
// re-creates, extended with common token shapes:
//
//  1. A line whose text before the first '=' is an identifier (after optional
//     leading blanks and "export " or "declare -x ") becomes NAME=<redacted>:
//     it looks like an environment dump.
//  2. Otherwise a line that contains a secret keyword (case-insensitive:
//     secret, password, token, bearer, " auth", aws_, begin private, …)
//     becomes "<redacted: matched secret-keyword filter>" as a whole.
//  3. Otherwise well-known token shapes are replaced in place by
//     <redacted:KIND>, so the rest of the line stays readable: AWS access
//     key ids, GitHub, GitLab and Slack tokens, JWTs, the value of an
//     Authorization header, and PEM private-key markers. [Text] also removes
//     whole PEM private-key blocks across lines.
//
// Redaction is a filter for accidental leaks, not a data-loss-prevention
// system: a secret of no known shape on a line without a keyword survives.
//
// [Ring] keeps the most recent N bytes of a stream (the stderr of a daemon
// hook is drained into one so a chatty child cannot fill its pipe), and
// [Ring.Redacted] turns that tail into loggable text.
package redact
