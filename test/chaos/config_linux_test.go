// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/config"
)

// TestConfigParses: the campaign's generated hooks.toml is one the
// service accepts, every variant of it, and the broken variant of the
// reload storm is refused, naming its first line.
func TestConfigParses(t *testing.T) {
	r := &run{self: "/usr/local/bin/chaos", dir: "/tmp/chaos", marker: "m", metricsSock: "/tmp/chaos/metrics.sock"}
	for v := range len(hookDefs) + 1 {
		cfg, err := config.Parse("hooks.toml", []byte(r.config(v, false)))
		if err != nil {
			t.Fatalf("variant %d: %v", v, err)
		}
		if len(cfg.Hooks) != len(hookDefs) {
			t.Fatalf("variant %d: %d hooks, want %d", v, len(cfg.Hooks), len(hookDefs))
		}
	}
	_, err := config.Parse("hooks.toml", []byte(r.config(1, true)))
	if err == nil || !strings.Contains(err.Error(), "hooks.toml:1:") {
		t.Fatalf("broken config: %v, want an error at hooks.toml:1", err)
	}
}
