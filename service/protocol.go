// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/hooksupd/hooksupd/executor"
)

// The socket protocol of `hooksupd serve`: newline-delimited JSON over a
// unix stream socket. Every request line carries an "id" (any JSON value)
// and an "op"; every reply line echoes the id verbatim. Many requests may
// be in flight on one connection and fire replies come back in the order
// the fires finish, so a client correlates by id. dist/PROTOCOL.md is the
// reference for client authors.

// Operations.
const (
	OpFire   = "fire"
	OpPing   = "ping"
	OpStatus = "status"
	OpReload = "reload"
)

// Error codes of error replies. A client must treat an unknown code like
// "internal".
const (
	CodeBadRequest    = "bad_request"
	CodeUnknownEvent  = "unknown_event"
	CodeOverloaded    = "overloaded"
	CodeTooLarge      = "too_large"
	CodeForbidden     = "forbidden"
	CodeInternal      = "internal"
	CodeInvalidConfig = "invalid_config"
)

// errorCodes lists every code, for metrics labels.
var errorCodes = []string{CodeBadRequest, CodeUnknownEvent, CodeOverloaded, CodeTooLarge,
	CodeForbidden, CodeInternal, CodeInvalidConfig}

// request is one decoded request line.
type request struct {
	ID        json.RawMessage `json:"id"`
	Op        string          `json:"op"`
	Event     string          `json:"event"`
	Namespace json.RawMessage `json:"namespace"`
	Payload   json.RawMessage `json:"payload"`
	Trace     bool            `json:"trace"`

	// namespaces is Namespace decoded: nil, one, or many.
	namespaces []string
}

// protoError is a failure that becomes an error reply.
type Error struct {
	Code    string
	Message string
	// Details are extra lines (every error of a rejected config).
	Details []string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// parseRequest decodes one request line. On failure it still returns the
// id when the line is a JSON object whose "id" could be read, so the error
// reply can be correlated.
func parseRequest(line []byte) (*request, json.RawMessage, *Error) {
	if perr := strictCheck(line); perr != nil {
		var id json.RawMessage
		if utf8.Valid(line) {
			id = salvageID(line) // an id that is not valid UTF-8 is never echoed
		}
		return nil, id, perr
	}
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	// A misspelt key ("namespaces") would otherwise silently fire no
	// scoped hook; refusing it names the mistake.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		id := salvageID(line)
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, id, badRequest("invalid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			if te.Field == "" {
				return nil, id, badRequest("a request must be a JSON object, not %s", te.Value)
			}
			return nil, id, badRequest("field %q must not be %s", te.Field, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return nil, id, badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return nil, id, badRequest("invalid JSON: unexpected end of line")
		default:
			return nil, id, badRequest("invalid JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, req.ID, badRequest("trailing data after the request object")
	}
	if req.ID == nil {
		return nil, nil, badRequest(`missing "id"`)
	}
	switch req.Op {
	case "":
		return nil, req.ID, badRequest(`missing "op"`)
	case OpFire:
		if req.Event == "" {
			return nil, req.ID, badRequest(`missing "event"`)
		}
		nss, perr := decodeNamespaces(req.Namespace)
		if perr != nil {
			return nil, req.ID, perr
		}
		req.namespaces = nss
		if isNull(req.Payload) {
			req.Payload = nil // the dispatcher sends {}
		}
	case OpPing, OpStatus, OpReload:
	default:
		return nil, req.ID, badRequest("unknown op %q (want fire, ping, status or reload)", truncate(req.Op, 64))
	}
	return &req, req.ID, nil
}

// requestFields are the request's keys, spelt exactly as the protocol
// spells them.
var requestFields = map[string]bool{"id": true, "op": true, "event": true, "namespace": true, "payload": true, "trace": true}

// strictCheck refuses what encoding/json would quietly accept: a name
// that appears twice in one object (at any depth; encoding/json keeps the
// last, so {"op":"ping","op":"reload"} reloaded), invalid UTF-8 (which it
// replaces), and a request key spelt in another case ("EVENT", which it
// matches case-insensitively). The jsontext decoder is strict about the
// first two by design; the third is checked here. A syntax error is left
// to the decoder of parseRequest, which words it for the client.
func strictCheck(line []byte) *Error {
	if !utf8.Valid(line) {
		return badRequest("the request line is not valid UTF-8")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return strictError(err)
		}
		key := name.String()
		if !requestFields[key] && requestFields[strings.ToLower(key)] {
			return badRequest("field %q must be spelt %q", truncate(key, 64), strings.ToLower(key))
		}
		if err := dec.SkipValue(); err != nil {
			return strictError(err)
		}
	}
	return nil
}

// strictError turns the jsontext decoder's strictness errors into
// bad_request; anything else (syntax) is left to parseRequest.
func strictError(err error) *Error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return badRequest("duplicate field at %s", se.JSONPointer)
		}
		return badRequest("duplicate field")
	}
	return nil
}

// decodeNamespaces accepts a string, an array of strings, or nothing.
func decodeNamespaces(raw json.RawMessage) ([]string, *Error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest(`"namespace" must be a string or an array of strings`)
	}
	return many, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// salvageID returns the "id" of a line that is not a valid request, read
// from the start of the object: it works for a line with a bad field after
// the id, or a too-long line whose prefix holds the id, and returns nil
// (null on the wire) otherwise.
func salvageID(line []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := k.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if key == "id" {
			return v
		}
	}
	return nil
}

// Replies. Each is marshalled without its id, which is then spliced in
// byte for byte: the client gets exactly the id it sent.

type okReply struct {
	OK bool `json:"ok"`
}

// ReloadReply is the answer to a successful reload: how many hooks the
// new config has and where it was read from.
type ReloadReply struct {
	OK     bool   `json:"ok"`
	Hooks  int    `json:"hooks"`
	Config string `json:"config"`
}

type statusReply struct {
	Status *Status `json:"status"`
}

type errorBody struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

type errorReply struct {
	Error errorBody `json:"error"`
}

// encodeReply renders body (a JSON object) with "id" first and a trailing
// newline. HTML characters are not escaped: the line is not HTML.
func encodeReply(id json.RawMessage, body any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		// Every reply type marshals; this is a programming error, and the
		// client still gets an answer for its id.
		b.Reset()
		_ = enc.Encode(errorReply{Error: errorBody{Code: CodeInternal, Message: "encoding the reply failed"}})
	}
	rest := b.Bytes() // "{...}\n"
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	out := make([]byte, 0, len(rest)+len(id)+8)
	out = append(out, `{"id":`...)
	out = append(out, id...)
	if len(rest) > 3 { // not "{}\n"
		out = append(out, ',')
	}
	return append(out, rest[1:]...)
}

// encodeError renders an error reply.
func encodeError(id json.RawMessage, e *Error) []byte {
	return encodeReply(id, errorReply{Error: errorBody{Code: e.Code, Message: e.Message, Details: e.Details}})
}

// encodeFire renders a fire's result exactly as `hooksupd fire` prints it,
// plus the id.
func encodeFire(id json.RawMessage, res *executor.Result, trace bool) []byte {
	return encodeReply(id, NewFireReply(res, trace))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// idPrefixBytes is how much of a too-long line is kept to find its id.
const idPrefixBytes = 4096

// errLineTooLong reports a request line over the limit; the reader has
// skipped (or will skip) the rest of it.
var errLineTooLong = errors.New("request line too long")

// lineReader reads request lines of at most max bytes (without "\n" and
// one trailing "\r"). Unlike a plain bounded reader it keeps the start of
// a line that is too long, so the too_large reply can carry its id.
type lineReader struct {
	br       *bufio.Reader
	max      int
	buf      []byte
	skipping bool // discarding the rest of a too-long line
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// buffered returns how many bytes have been read past the last line.
func (r *lineReader) buffered() int { return r.br.Buffered() }

// next returns the next line, valid until the next call. For a line over
// the limit it returns errLineTooLong with up to idPrefixBytes of the
// line's start as soon as the limit is passed; the rest of that line is
// discarded by the following calls. At EOF an unterminated last line is
// returned before io.EOF.
func (r *lineReader) next() ([]byte, error) {
	if r.skipping {
		for {
			_, err := r.br.ReadSlice('\n')
			if err == nil {
				r.skipping = false
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return nil, err
			}
		}
	}
	if cap(r.buf) > 64<<10 {
		r.buf = nil // one huge line must not pin its buffer for the connection's life
	}
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.buf = append(r.buf, chunk...)
		switch {
		case err == nil:
			line := dropEOL(r.buf)
			if len(line) > r.max {
				return r.buf[:min(len(r.buf), idPrefixBytes)], errLineTooLong
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(r.buf) > r.max+1 { // over even if "\r\n" follows
				r.skipping = true
				return r.buf[:min(len(r.buf), idPrefixBytes)], errLineTooLong
			}
		case errors.Is(err, io.EOF) && len(r.buf) > 0:
			line := dropEOL(r.buf)
			if len(line) > r.max {
				return r.buf[:min(len(r.buf), idPrefixBytes)], errLineTooLong
			}
			return line, nil
		default:
			return nil, err
		}
	}
}

// dropEOL removes a trailing "\n" and then one "\r".
func dropEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// DefaultSocket is where the service listens and clients connect unless
// [server] socket or a flag says otherwise.
const DefaultSocket = "/run/hooksupd/hooksupd.sock"
