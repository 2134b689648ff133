// SPDX-License-Identifier: Apache-2.0

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUserManagerMissing: without a user manager to ask, the error says
// so and names the socket that was tried (the message a user sees when an
// unprivileged run's limits are refused). The scope itself is checked in
// the systemd VM (test/systemd/guest/check.sh, section 10).
func TestUserManagerMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	conn, err := userManager(t.Context())
	if err == nil {
		conn.Close()
		t.Fatal("connected to a user manager in an empty runtime directory")
	}
	for _, want := range []string{"no systemd user manager", filepath.Join(dir, "systemd", "private")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := enterUserScope("true"); err == nil {
		t.Error("enterUserScope succeeded without a user manager")
	}
}
