// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
)

// Embed the runtime in a host application: load the configuration,
// fire an event, act on the decision. (Compiled, not run: it reads the
// installed configuration. README.md shows this code.)
func Example_embed() {
	ctx := context.Background()
	payload := json.RawMessage(`{"content":"hello"}`)

	cfg, err := config.Load("/etc/hooksupd/hooks.toml")
	if err != nil {
		log.Fatal(err) // a *config.ConfigError lists every problem with file:line:col
	}
	d, err := executor.New(cfg, executor.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close(context.Background())

	res, err := d.Fire(ctx, "pre_store", []string{"team/a"}, payload)
	if err != nil {
		log.Fatal(err)
	}
	switch res.Decision {
	case executor.ActionDeny:
		log.Fatalf("refused: %s (%d)", res.Reason, res.Code)
	case executor.ActionModify:
		payload = res.Payload
	}
	for _, t := range res.Hooks {
		log.Printf("%s: %s %v", t.Hook, t.Decision, t.Error) // t.Error is the kind: "timeout", "oom_killed", …
	}

	fmt.Printf("store %s\n", payload)
}
