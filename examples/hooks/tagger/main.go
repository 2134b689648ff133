// SPDX-License-Identifier: Apache-2.0

// Command tagger is an example modify hook: it adds a tag to every memory
// stored, so a reader can tell which records went through the hook chain.
//
// Protocol (exec mode): hooksupd writes one line to stdin,
//
//	{"event":"pre_store","payload":{"title":"...","tags":["a"],...}}
//
// and closes stdin. The hook answers with one JSON line on stdout:
//
//	{"action":"modify","delta":{"tags":["a","hooksupd"]}}
//
// A delta replaces whole top-level keys of the payload (last writer wins
// across the chain), so the hook sends the complete new tag list, not just
// the added tag. Modify is honoured on pre_* events only.
//
// Usage: tagger [TAG]   (default tag "hooksupd")
//
// Build: go build -o examples/bin/tagger ./examples/hooks/tagger
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

type envelope struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

type decision struct {
	Action string         `json:"action"`
	Delta  map[string]any `json:"delta,omitempty"`
}

func main() {
	tag := "hooksupd"
	if len(os.Args) > 1 {
		tag = os.Args[1]
	}
	d, err := decide(bufio.NewReader(os.Stdin), tag)
	if err != nil {
		// stderr reaches hooksupd's log; a non-zero exit makes this fire an
		// error that the hook's fail_mode turns into allow or deny.
		fmt.Fprintln(os.Stderr, "tagger:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(d); err != nil {
		fmt.Fprintln(os.Stderr, "tagger:", err)
		os.Exit(1)
	}
}

func decide(r *bufio.Reader, tag string) (decision, error) {
	line, err := r.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return decision{}, fmt.Errorf("reading the request: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return decision{}, fmt.Errorf("decoding the request: %w", err)
	}
	var payload struct {
		Tags []string `json:"tags"`
	}
	// A payload without tags (or with something else there) gets a fresh
	// list: the hook adds, it never fails a store over a tag.
	_ = json.Unmarshal(env.Payload, &payload)
	if slices.Contains(payload.Tags, tag) {
		return decision{Action: "allow"}, nil
	}
	tags := append(payload.Tags, tag)
	return decision{Action: "modify", Delta: map[string]any{"tags": tags}}, nil
}
