// SPDX-License-Identifier: Apache-2.0

package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/supervisor"
)

func TestParseSandbox(t *testing.T) {
	cfg, err := Parse("s.toml", []byte(`
[[hook]]
name = "boxed"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
capabilities = ["CAP_NET_BIND_SERVICE"]
[hook.sandbox]
private_network = true
private_tmp = true
protect_system = "strict"
protect_home = true
read_write_paths = ["/var/lib/boxed"]
read_only_paths = ["/srv"]
inaccessible_paths = ["/opt/secret"]
system_call_filter = ["@system-service", "~@mount"]
system_call_error_number = "kill"
allow_unsandboxed = true

[[hook]]
name = "plain"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
[hook.sandbox]
protect_system = true
protect_home = "read-only"
`))
	require.NoError(t, err)
	assert.Equal(t, supervisor.Sandbox{
		Capabilities:          []string{"CAP_NET_BIND_SERVICE"},
		PrivateNetwork:        true,
		PrivateTmp:            true,
		ProtectSystem:         "strict",
		ProtectHome:           "true",
		ReadWritePaths:        []string{"/var/lib/boxed"},
		ReadOnlyPaths:         []string{"/srv"},
		InaccessiblePaths:     []string{"/opt/secret"},
		SystemCallFilter:      []string{"@system-service", "~@mount"},
		SystemCallErrorNumber: "kill",
		AllowUnsandboxed:      true,
	}, cfg.Hooks[0].Sandbox)
	assert.Equal(t, supervisor.Sandbox{ProtectSystem: "true", ProtectHome: "read-only"}, cfg.Hooks[1].Sandbox)
}

func TestParseSandboxErrors(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`capabilities = ["CAP_FLY"]`, `capabilities: unknown capability "CAP_FLY"`},
		{"[hook.sandbox]\nprotect_system = \"ultra\"", `protect_system`},
		{"[hook.sandbox]\nprotect_home = 3", `protect_home`},
		{"[hook.sandbox]\nread_only_paths = [\"rel/ative\"]", `not a clean absolute path`},
		{"[hook.sandbox]\nprivate_netwrok = true", `private_network`},
	} {
		_, err := Parse("s.toml", []byte("[[hook]]\nevent = \"pre_store\"\ncommand = \"/bin/true\"\npriority = 1\ntimeout_ms = 1000\nnamespace = \"*\"\n"+c.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error about %s", c.body, err, c.want)
		}
	}
	_, err := Parse("s.toml", []byte("[supervisor]\ndynamic_users = \"10-20\"\n"))
	if err == nil || !strings.Contains(err.Error(), "dynamic_users") {
		t.Errorf("dynamic_users 10-20: %v", err)
	}
}

// TestDynamicUsers: as root, by default, hooks that name no user get
// distinct unprivileged ids; user = "root" stays root; a group-only hook
// gets a dynamic uid and its group.
func TestDynamicUsers(t *testing.T) {
	testutil.RequireRoot(t) // dynamic users apply only when hooksupd runs as root
	cfg, err := Parse("d.toml", []byte(`
[[hook]]
name = "g"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
group = "0"
[[hook]]
name = "a"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
[[hook]]
name = "b"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
[[hook]]
name = "r"
event = "pre_store"
command = "/bin/true"
priority = 1
timeout_ms = 1000
namespace = "*"
user = "root"
`))
	require.NoError(t, err)
	g, a, b, r := cfg.Hooks[0], cfg.Hooks[1], cfg.Hooks[2], cfg.Hooks[3]
	assert.True(t, g.DynamicUser && a.DynamicUser && b.DynamicUser && !r.DynamicUser)
	assert.NotEqual(t, a.UID, b.UID)
	assert.NotEqual(t, g.UID, a.UID)
	assert.NotEqual(t, g.UID, b.UID)
	for _, h := range []Hook{a, b} {
		assert.True(t, h.UID >= 61184 && h.UID <= 65519 && h.GID == h.UID, "%s: %d:%d", h.Name, h.UID, h.GID)
	}
	assert.True(t, g.UID >= 61184 && g.UID <= 65519 && g.GID == 0, "g: %d:%d", g.UID, g.GID)
	assert.Equal(t, uint32(0), r.UID)
}

// TestDynamicUsersRange: the range is configurable, a dynamic id never
// aliases a numeric user of another hook, an exhausted range names the
// hook, and there is no way to turn dynamic users off.
func TestDynamicUsersRange(t *testing.T) {
	testutil.RequireRoot(t)
	hook := func(name, extra string) string {
		return "[[hook]]\nname = \"" + name + "\"\nevent = \"pre_store\"\ncommand = \"/bin/true\"\npriority = 1\ntimeout_ms = 10\nnamespace = \"*\"\n" + extra
	}
	cfg, err := Parse("r.toml", []byte("[supervisor]\ndynamic_users = \"70000-70001\"\n"+
		hook("a", "")+hook("n", "user = \"70000\"\ngroup = \"70000\"\n")))
	require.NoError(t, err)
	assert.Equal(t, uint32(70001), cfg.Hooks[0].UID, "the only id left beside user 70000")
	assert.Equal(t, uint32(70000), cfg.Hooks[1].UID)

	_, err = Parse("x.toml", []byte("[supervisor]\ndynamic_users = \"70000-70000\"\n"+hook("a", "")+hook("b", "")))
	if err == nil || !strings.Contains(err.Error(), "exhausted") || !strings.Contains(err.Error(), "b") {
		t.Errorf("two hooks, one id: %v", err)
	}
	for _, off := range []string{`""`, `"off"`} {
		_, err := Parse("o.toml", []byte("[supervisor]\ndynamic_users = "+off+"\n"))
		if err == nil || !strings.Contains(err.Error(), `user = "root"`) {
			t.Errorf("dynamic_users = %s: %v, want an error pointing at user = \"root\"", off, err)
		}
	}
}
