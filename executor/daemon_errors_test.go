// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

// TestDaemonErrorsDoNotNest: fires of a crash-looping daemon during its
// restart backoff fail fast, and neither their errors nor the hook's
// last_error grow with every fire (each used to embed the one before).
func TestDaemonErrorsDoNotNest(t *testing.T) {
	b, err := supervisor.NewPortable(supervisor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := NewRegistry(RegistryOptions{Backend: b})
	defer r.Close(context.Background())
	h := config.Hook{Name: "crashloop", Event: "pre_store", Command: "/bin/sh", Args: []string{"-c", "read -r line; exit 1"},
		Mode: config.ModeDaemon, Enabled: true}
	ex, err := r.Executor(&h)
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, ferr := ex.Fire(ctx, "pre_store", json.RawMessage(`{}`))
		cancel()
		if ferr != nil {
			longest = max(longest, len(ferr.Error()))
			if n := strings.Count(ferr.Error(), "last error"); n > 1 {
				t.Fatalf("error nests %d deep: %.300s", n, ferr)
			}
		}
	}
	st, _ := r.State("crashloop")
	if st.LastError == "" || len(st.LastError) > maxErrorText+8 || strings.Contains(st.LastError, "last error") {
		t.Errorf("last_error %d bytes: %.300q", len(st.LastError), st.LastError)
	}
	if longest > 2*maxErrorText {
		t.Errorf("longest fire error %d bytes", longest)
	}
}
