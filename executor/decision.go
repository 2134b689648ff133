// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// MaxDecisionLine is the longest decision line ParseDecision accepts. The
// seed had no limit at all; a hook that prints an unbounded line must not
// be able to grow the supervisor's memory without bound.
const MaxDecisionLine = 1 << 20

// DecodeKind says which parsing rule a decision line broke.
type DecodeKind string

// The ways a decision line can be rejected, in the order ParseDecision
// checks them.
const (
	// DecodeTooLong: the line is longer than MaxDecisionLine.
	DecodeTooLong DecodeKind = "too_long"
	// DecodeMalformed: not JSON, trailing junk, or a field of the wrong type.
	DecodeMalformed DecodeKind = "malformed"
	// DecodeNotAnObject: valid JSON, but an array, scalar or null.
	DecodeNotAnObject DecodeKind = "not_an_object"
	// DecodeMissingAction: an object without "action".
	DecodeMissingAction DecodeKind = "missing_action"
	// DecodeUnknownAction: "action" is not one of the four (case-sensitive).
	DecodeUnknownAction DecodeKind = "unknown_action"
	// DecodeMissingField: a field the action requires is absent.
	DecodeMissingField DecodeKind = "missing_field"
)

// DecodeError reports why a decision line was rejected. It wraps ErrDecode.
type DecodeError struct {
	Kind DecodeKind
	// Action is the action involved (unknown_action, missing_field and
	// field type errors). Error() quotes it and cuts it to 64 bytes.
	Action string
	// Field is the offending field (missing_field and field type errors).
	Field string
	// Detail is the human-readable cause for malformed lines.
	Detail string
}

// maxEcho bounds how much of a hook's own output an error message repeats:
// the message can end up in a Deny reason that reaches a client.
const maxEcho = 64

func (e *DecodeError) Error() string {
	var reason string
	switch e.Kind {
	case DecodeTooLong:
		reason = fmt.Sprintf("hook decision line exceeds %d bytes", MaxDecisionLine)
	case DecodeNotAnObject:
		reason = "hook decision must be a JSON object"
	case DecodeMissingAction:
		reason = `hook decision missing "action" field`
	case DecodeUnknownAction:
		reason = "hook decision has unknown action " + quoteEcho(e.Action)
	case DecodeMissingField:
		reason = fmt.Sprintf("hook decision action=%s missing required field %q", quoteEcho(e.Action), e.Field)
	default:
		reason = "hook decision malformed: " + e.Detail
	}
	return ErrDecode.Error() + ": " + reason
}

// Unwrap returns ErrDecode so errors.Is(err, ErrDecode) holds.
func (e *DecodeError) Unwrap() error { return ErrDecode }

// quoteEcho quotes a hook-supplied string for an error message, cut to
// maxEcho bytes so a hook cannot flood logs or reasons through it.
func quoteEcho(s string) string {
	if len(s) > maxEcho {
		return strconv.Quote(s[:maxEcho]) + "..."
	}
	return strconv.Quote(s)
}

func malformed(format string, args ...any) *DecodeError {
	return &DecodeError{Kind: DecodeMalformed, Detail: fmt.Sprintf(format, args...)}
}

// allowDecision is what an empty line, "{}" and an empty object mean.
var allowDecision = Decision{Action: ActionAllow}

// ParseDecision parses one decision line exactly as the seed's
// HookDecision::parse does, checking in this order:
//
//  1. trim; "" or the literal "{}" is allow;
//  2. JSON syntax error or trailing junk: malformed;
//  3. not an object: "hook decision must be a JSON object";
//  4. an empty object is allow;
//  5. no "action": missing action; a non-string "action": malformed;
//  6. an unknown (case-sensitive) action: unknown action;
//  7. a missing required field: missing field (deny: reason; modify:
//     delta; ask_user: prompt and options).
//
// deny's code defaults to 403 when it is missing, not an integer literal,
// or outside the int32 range. ask_user's default may be missing or null
// (nil), else it must be a string. Keys an action does not use are
// ignored.
//
// modify's delta must be an object. With memoryDelta (the seed's built-in
// events) it is typed as the seed's MemoryDelta: tier (short|mid|long),
// namespace, title, content, source and expires_at (strings), tags (array
// of strings), priority (int32), confidence (number) and metadata (any) are
// type-checked, a null field counts as absent, and every other key is
// dropped, as the seed does. Without memoryDelta (custom events) every key
// is kept as it is, null included. Values are stored compacted.
//
// Lines longer than MaxDecisionLine are rejected. Every error is a
// *DecodeError wrapping ErrDecode.
func ParseDecision(line []byte, memoryDelta bool) (Decision, error) {
	if len(line) > MaxDecisionLine {
		return Decision{}, &DecodeError{Kind: DecodeTooLong}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || string(line) == "{}" {
		return allowDecision, nil
	}
	if string(line) == `{"action":"allow"}` {
		return allowDecision, nil // the common answer, without a decode
	}
	if !json.Valid(line) {
		// Decode only to get the syntax error's text.
		var raw json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return Decision{}, malformed("%v", err)
		}
	}
	if line[0] != '{' {
		return Decision{}, &DecodeError{Kind: DecodeNotAnObject}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		// Unreachable for valid JSON that starts with '{'; kept total.
		return Decision{}, malformed("%v", err)
	}
	if len(obj) == 0 {
		return allowDecision, nil
	}
	rawAction, ok := obj["action"]
	if !ok {
		return Decision{}, &DecodeError{Kind: DecodeMissingAction}
	}
	action, ok := jsonString(rawAction)
	if !ok {
		return Decision{}, malformed(`"action" must be a string`)
	}
	switch Action(action) {
	case ActionAllow:
		return allowDecision, nil
	case ActionDeny:
		return parseDeny(obj)
	case ActionModify:
		return parseModify(obj, memoryDelta)
	case ActionAskUser:
		return parseAskUser(obj)
	default:
		return Decision{}, &DecodeError{Kind: DecodeUnknownAction, Action: action}
	}
}

// requiredString returns a field that the action requires to be a string.
func requiredString(obj map[string]json.RawMessage, action Action, field string) (string, error) {
	raw, ok := obj[field]
	if !ok {
		return "", &DecodeError{Kind: DecodeMissingField, Action: string(action), Field: field}
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", &DecodeError{Kind: DecodeMalformed, Action: string(action), Field: field,
			Detail: fmt.Sprintf("%q must be a string", field)}
	}
	return s, nil
}

func parseDeny(obj map[string]json.RawMessage) (Decision, error) {
	reason, err := requiredString(obj, ActionDeny, "reason")
	if err != nil {
		return Decision{}, err
	}
	return Decision{Action: ActionDeny, Reason: reason, Code: denyCode(obj["code"])}, nil
}

// denyCode mirrors the seed's `as_i64` then i32 conversion: only an integer
// literal inside the int32 range is kept; anything else (missing, a
// string, 403.0, 1e3, out of range) is 403.
func denyCode(raw json.RawMessage) int {
	if n, ok := jsonInt32(raw); ok {
		return int(n)
	}
	return 403
}

func parseAskUser(obj map[string]json.RawMessage) (Decision, error) {
	prompt, err := requiredString(obj, ActionAskUser, "prompt")
	if err != nil {
		return Decision{}, err
	}
	rawOpts, ok := obj["options"]
	if !ok {
		return Decision{}, &DecodeError{Kind: DecodeMissingField, Action: string(ActionAskUser), Field: "options"}
	}
	options, ok := jsonStrings(rawOpts)
	if !ok {
		return Decision{}, &DecodeError{Kind: DecodeMalformed, Action: string(ActionAskUser), Field: "options",
			Detail: `"options" must be an array of strings`}
	}
	d := Decision{Action: ActionAskUser, Prompt: prompt, Options: options}
	if rawDef, ok := obj["default"]; ok && !isNull(rawDef) {
		def, ok := jsonString(rawDef)
		if !ok {
			return Decision{}, &DecodeError{Kind: DecodeMalformed, Action: string(ActionAskUser), Field: "default",
				Detail: `"default" must be a string or null`}
		}
		d.Default = &def
	}
	return d, nil
}

func parseModify(obj map[string]json.RawMessage, memoryDelta bool) (Decision, error) {
	raw, ok := obj["delta"]
	if !ok {
		return Decision{}, &DecodeError{Kind: DecodeMissingField, Action: string(ActionModify), Field: "delta"}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return Decision{}, &DecodeError{Kind: DecodeMalformed, Action: string(ActionModify), Field: "delta",
			Detail: `"delta" must be a JSON object`}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Decision{}, malformed("delta: %v", err)
	}
	delta := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		if memoryDelta {
			check, known := memoryDeltaFields[k]
			if !known || isNull(v) {
				continue // the seed's MemoryDelta drops unknown keys; null is None
			}
			if !check(v) {
				return Decision{}, &DecodeError{Kind: DecodeMalformed, Action: string(ActionModify), Field: "delta." + k,
					Detail: fmt.Sprintf("delta field %q: %s", k, memoryDeltaTypes[k])}
			}
		}
		delta[k] = compactJSON(v)
	}
	return Decision{Action: ActionModify, Delta: delta}, nil
}

// memoryDeltaFields type-checks the seed's MemoryDelta fields.
var memoryDeltaFields = map[string]func(json.RawMessage) bool{
	"tier": func(v json.RawMessage) bool {
		s, ok := jsonString(v)
		return ok && (s == "short" || s == "mid" || s == "long")
	},
	"namespace":  isJSONString,
	"title":      isJSONString,
	"content":    isJSONString,
	"source":     isJSONString,
	"expires_at": isJSONString,
	"tags":       func(v json.RawMessage) bool { _, ok := jsonStrings(v); return ok },
	"priority":   func(v json.RawMessage) bool { _, ok := jsonInt32(v); return ok },
	"confidence": isJSONNumber,
	"metadata":   func(json.RawMessage) bool { return true },
}

// memoryDeltaTypes describes what each MemoryDelta field must be, for the
// error message.
var memoryDeltaTypes = map[string]string{
	"tier":       `must be "short", "mid" or "long"`,
	"namespace":  "must be a string",
	"title":      "must be a string",
	"content":    "must be a string",
	"source":     "must be a string",
	"expires_at": "must be a string",
	"tags":       "must be an array of strings",
	"priority":   "must be an integer in the int32 range",
	"confidence": "must be a number",
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

func isJSONString(v json.RawMessage) bool { _, ok := jsonString(v); return ok }

// jsonString decodes v when it is a JSON string (json.Unmarshal would
// silently accept null into a string, which the seed does not).
func jsonString(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonStrings decodes v when it is an array whose elements are all strings.
func jsonStrings(v json.RawMessage) ([]string, bool) {
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(v, &elems); err != nil {
		return nil, false
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		s, ok := jsonString(e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// jsonInt32 accepts an integer literal (no fraction, no exponent) that fits
// in int32, like serde's i32 and the seed's as_i64-then-i32 conversion.
func jsonInt32(v json.RawMessage) (int32, bool) {
	if len(v) == 0 || bytes.ContainsAny(v, ".eE\"") {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func isJSONNumber(v json.RawMessage) bool {
	if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return false
	}
	_, err := strconv.ParseFloat(string(v), 64)
	// ParseFloat reports ErrRange for 1e400; serde_json accepts such a
	// number as infinity only with a feature flag, so out of range is a
	// type error here too.
	return err == nil
}

// compactJSON returns v without insignificant whitespace, so a value can
// be embedded in a single NDJSON line.
func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return append(json.RawMessage(nil), v...)
	}
	return b.Bytes()
}
