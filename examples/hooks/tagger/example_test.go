// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
)

// The smallest modify hook: read the envelope from stdin, answer one
// decision line on stdout. (Compiled, not run; main.go is the complete
// hook with its error handling. README.md shows this code.)
func Example_minimal() {
	var env struct{ Payload struct{ Tags []string } }
	json.NewDecoder(os.Stdin).Decode(&env)
	tags := append(env.Payload.Tags, "reviewed")
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"action": "modify", "delta": map[string]any{"tags": tags}})
}
