// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"log/slog"
	"path/filepath"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/supervisor"
)

// HiddenPaths are the directories a backend for cfg hides from hooks
// (supervisor.Options.HiddenPaths): the control socket's, so that no
// hook, not even a user = "root" one, can connect to it and send reload
// (see docs/sandbox.md). A socket directly in a shared directory such as
// /run is guarded by its mode only, which log is told.
func HiddenPaths(cfg *config.Config, log *slog.Logger) []string {
	if cfg.Server.Socket == "" {
		return nil
	}
	dir := filepath.Dir(filepath.Clean(cfg.Server.Socket))
	if !supervisor.HideableDir(dir) {
		if log != nil {
			log.Warn("the control socket's directory is shared, so root hooks are kept from the socket by its mode only; give it a directory of its own",
				"socket", cfg.Server.Socket)
		}
		return nil
	}
	return []string{dir}
}
