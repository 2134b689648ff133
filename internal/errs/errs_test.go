// SPDX-License-Identifier: Apache-2.0

package errs_test

import (
	"testing"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/errs"
	"github.com/hooksupd/hooksupd/supervisor"
	"github.com/hooksupd/hooksupd/supervisor/cgroup"
)

// Every layer re-exports the one value.
func TestOneErrNotSupported(t *testing.T) {
	for name, e := range map[string]error{"supervisor": supervisor.ErrNotSupported, "cgroup": cgroup.ErrNotSupported,
		"executor": executor.ErrNotSupported} {
		if e != errs.ErrNotSupported {
			t.Errorf("%s.ErrNotSupported is a different value", name)
		}
	}
}
