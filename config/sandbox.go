// SPDX-License-Identifier: Apache-2.0

package config

import (
	"os"

	"github.com/hooksupd/hooksupd/internal/dynuser"
	"github.com/hooksupd/hooksupd/supervisor"
)

// sandboxKeys are the keys of [hook.sandbox], in systemd.exec(5)'s
// meanings (see docs/sandbox.md).
var sandboxKeys = []string{
	"private_network", "private_tmp", "private_pids", "protect_system", "protect_home",
	"read_write_paths", "read_only_paths", "inaccessible_paths", "system_call_filter",
	"system_call_error_number", "allow_unsandboxed",
}

// decodeSandbox decodes a hook's capabilities and [hook.sandbox].
func (d *cfgDecoder) decodeSandbox(t *cfgTable, h *Hook) {
	if caps, ok := t.strList("capabilities"); ok {
		if _, err := supervisor.CapabilityMask(caps); err != nil {
			t.errAt("capabilities", "%v", err)
		}
		h.Sandbox.Capabilities = caps
	}
	st, ok := t.sub("sandbox", sandboxKeys...)
	if !ok {
		return
	}
	sb := &h.Sandbox
	if b, ok := st.boolean("private_network"); ok {
		sb.PrivateNetwork = b
	}
	if b, ok := st.boolean("private_tmp"); ok {
		sb.PrivateTmp = b
	}
	if b, ok := st.boolean("private_pids"); ok {
		sb.PrivatePIDs = b
	}
	sb.ProtectSystem = boolOrEnum(st, "protect_system", "full", "strict")
	sb.ProtectHome = boolOrEnum(st, "protect_home", "read-only", "tmpfs")
	for _, l := range []struct {
		key string
		dst *[]string
	}{{"read_write_paths", &sb.ReadWritePaths}, {"read_only_paths", &sb.ReadOnlyPaths}, {"inaccessible_paths", &sb.InaccessiblePaths}} {
		if v, ok := st.strList(l.key); ok {
			*l.dst = v
			probe := supervisor.Sandbox{ReadOnlyPaths: v}
			if err := probe.Validate(); err != nil {
				st.errAt(l.key, "%v", err)
			}
		}
	}
	if v, ok := st.strList("system_call_filter"); ok {
		sb.SystemCallFilter = v
		probe := supervisor.Sandbox{SystemCallFilter: v}
		if err := probe.Validate(); err != nil {
			st.errAt("system_call_filter", "%v", err)
		}
	}
	if v, ok := st.enum("system_call_error_number", "EPERM", "kill"); ok {
		sb.SystemCallErrorNumber = v
	}
	if b, ok := st.boolean("allow_unsandboxed"); ok {
		sb.AllowUnsandboxed = b
	}
	st.finish()
}

// boolOrEnum decodes a key that is true, false or one of values, as
// systemd's ProtectSystem= and ProtectHome= are: "" for false, "true" for
// true.
func boolOrEnum(t *cfgTable, key string, values ...string) string {
	v, ok := t.get(key)
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case bool:
		if v {
			return "true"
		}
		return ""
	case string:
		for _, a := range values {
			if v == a {
				return v
			}
		}
	}
	t.errAt(key, "must be true, false, %q or %q", values[0], values[1])
	return ""
}

// assignDynamicUsers gives every hook that names no user its own
// unprivileged uid from [supervisor] dynamic_users (and the same id as its
// gid, unless it names a group), when hooksupd runs as root (see
// internal/dynuser): hooks then cannot signal, ptrace or read one another
// or the supervisor. A hook runs as root only with user = "root" written
// out. As any other user, hooksupd runs hooks as itself: it could not
// switch to another uid anyway.
func (d *cfgDecoder) assignDynamicUsers(cfg *Config) {
	if os.Geteuid() != 0 {
		return
	}
	r, err := dynuser.ParseRange(cfg.Supervisor.DynamicUsers)
	if err != nil {
		return // reported by decodeSupervisor
	}
	alloc := dynuser.New(r)
	for _, h := range cfg.Hooks {
		if h.User != "" {
			alloc.Reserve(h.UID) // a numeric uid without passwd entry
		}
	}
	for i := range cfg.Hooks {
		h := &cfg.Hooks[i]
		if h.User != "" {
			continue
		}
		id, err := alloc.ID(h.Name)
		if err != nil {
			d.errs = append(d.errs, FieldError{Pos: h.Pos, Hook: h.Name, Field: "user", Msg: err.Error() + ": widen [supervisor] dynamic_users or set user"})
			continue
		}
		h.DynamicUser, h.UID = true, id
		if h.Group == "" {
			h.GID = id
		}
	}
}
