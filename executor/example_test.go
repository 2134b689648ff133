// SPDX-License-Identifier: Apache-2.0

// The examples run /bin/sh hooks.

//go:build unix

package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// A pre_store hook that rewrites the content, run as a /bin/sh script on
// the portable backend.
func ExampleDispatcher_Fire() {
	dir, err := os.MkdirTemp("", "hooksupd-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	// Run as root, hooksupd runs a hook that names no user as a dynamic
	// user of its own: the script must be readable by any uid.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Println(err)
		return
	}
	hook := filepath.Join(dir, "redact")
	err = os.WriteFile(hook, []byte("#!/bin/sh\ncat >/dev/null\n"+
		`echo '{"action":"modify","delta":{"content":"[redacted]"}}'`+"\n"), 0o755)
	if err != nil {
		fmt.Println(err)
		return
	}

	cfg, err := config.Parse("hooks.toml", []byte(fmt.Sprintf(`
[policy]
strict_modes = false # the example's temp dir sits in the world-writable /tmp

[[hook]]
name = "redact"
event = "pre_store"
command = %q
priority = 100
timeout_ms = 2000
enabled = true
namespace = "team/*"
`, hook)))
	if err != nil {
		fmt.Println(err)
		return
	}
	backend, err := supervisor.NewPortable(supervisor.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer backend.Close()
	d, err := executor.New(cfg, executor.Options{Backend: backend})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(context.Background())

	// The host resolved the namespace; the body's claim is overwritten.
	res, err := d.Fire(context.Background(), "pre_store", []string{"team/a"},
		json.RawMessage(`{"namespace":"elsewhere","content":"password=hunter2"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %s\n", res.Decision, res.Delta["content"], res.Payload)

	// Outside the hook's namespace nothing runs.
	res, _ = d.Fire(context.Background(), "pre_store", []string{"other"}, json.RawMessage(`{}`))
	fmt.Println(res.Decision, len(res.Hooks))
	// Output:
	// modify "[redacted]" {"namespace":"team/a","content":"[redacted]"}
	// allow 0
}

func ExampleParseDecision() {
	for _, line := range []string{
		``,
		`{"action":"deny","reason":"no secrets in memories"}`,
		`{"action":"modify","delta":{"tags":["reviewed"],"unknown":1}}`,
		`{"action":"Allow"}`,
		`[1,2]`,
	} {
		d, err := executor.ParseDecision([]byte(line), true)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s reason=%q code=%d delta=%s\n", d.Action, d.Reason, d.Code, d.Delta)
	}
	// Output:
	// allow reason="" code=0 delta=map[]
	// deny reason="no secrets in memories" code=403 delta=map[]
	// modify reason="" code=0 delta=map[tags:["reviewed"]]
	// hook decision decode failed: hook decision has unknown action "Allow"
	// hook decision decode failed: hook decision must be a JSON object
}
