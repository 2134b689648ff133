// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"sort"

	"github.com/hooksupd/hooksupd/config"
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
func childEnv(h *config.Hook, event string, lookup func(string) (string, bool)) []string {
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
