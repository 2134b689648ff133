// SPDX-License-Identifier: Apache-2.0

package supervisor

import "github.com/hooksupd/hooksupd/supervisor/internal/launcher"

// HasLauncher reports whether this build carries the pre-placed launcher
// for its architecture. Without one the Linux backend spawns hooks
// directly, and on a cgroup v1 or hybrid host capped specs then need
// AllowUncapped. It probes nothing: whether the kernel lets the launcher
// run is known only to a backend (see Mechanisms).
func HasLauncher() bool { return launcher.Blob() != nil }
