package executor

import (
	"os"
	"sort"

	"github.com/hooksupd/hooksupd/supervisor"
)

// childPath is the PATH every child starts with. It is fixed rather than
// inherited, so the supervisor's own PATH (which may point at writable
// directories) never decides what a hook's bare command names resolve to.
const childPath = "/usr/local/bin:/usr/bin:/bin"

// childEnv builds a hook child's complete environment from an allowlist;
// nothing else of the supervisor's environment is inherited (the seed
// inherited everything, which is why its stderr needed redaction):
//
//   - PATH=/usr/local/bin:/usr/bin:/bin;
//   - each pass_env name that is set in the supervisor's environment
//     (lookup), copied as is;
//   - the hook's env table (it wins over PATH and pass_env: it is the
//     operator's explicit value);
//   - HOOKSUPD_EVENT (the event fired) and HOOKSUPD_HOOK (the hook's name),
//     which nothing can override.
//
// The result is sorted by name, so a child sees the same environment
// order on every fire.
func childEnv(h *Hook, event string, lookup func(string) (string, bool)) []string {
	vars := map[string]string{"PATH": childPath}
	for _, name := range h.PassEnv {
		if v, ok := lookup(name); ok {
			vars[name] = v
		}
	}
	for k, v := range h.Env {
		vars[k] = v
	}
	vars["HOOKSUPD_EVENT"] = event
	vars["HOOKSUPD_HOOK"] = h.Name
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, len(keys))
	for i, k := range keys {
		env[i] = k + "=" + vars[k]
	}
	return env
}

// buildSpec turns a hook into the spec of one child for event. Stdio is
// left nil: the backend creates the pipes.
func buildSpec(h *Hook, event string) (*supervisor.Spec, error) {
	cred, err := credential(h)
	if err != nil {
		return nil, &supervisor.SpawnError{Path: h.Command, Err: err}
	}
	return &supervisor.Spec{
		Name:          h.Name,
		Path:          h.Command,
		Args:          h.Args,
		Env:           childEnv(h, event, os.LookupEnv),
		Dir:           h.Dir,
		Limits:        h.Limits,
		AllowUncapped: h.AllowUncapped,
		Credential:    cred,
		Sandbox:       h.Sandbox,
	}, nil
}

// credential resolves the hook's user and group (names or numeric ids,
// with the config's lookupUser/lookupGroup) into a Credential; nil when
// neither is set. A user without a group runs with the user's primary
// group (gid = uid for a numeric uid without a passwd entry). A group
// without a user keeps the supervisor's uid. Supplementary groups are
// dropped.
func credential(h *Hook) (*supervisor.Credential, error) {
	if h.DynamicUser {
		return &supervisor.Credential{UID: h.UID, GID: h.GID, Groups: []uint32{}}, nil
	}
	if h.User == "" && h.Group == "" {
		return nil, nil
	}
	cred := &supervisor.Credential{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Groups: []uint32{}}
	if h.User != "" {
		uid, gid, hasGID, err := lookupUser(h.User)
		if err != nil {
			return nil, err
		}
		if !hasGID {
			gid = uid
		}
		cred.UID, cred.GID = uid, gid
	}
	if h.Group != "" {
		gid, err := lookupGroup(h.Group)
		if err != nil {
			return nil, err
		}
		cred.GID = gid
	}
	return cred, nil
}
