// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// On Windows the portable backend terminates the direct child only: there
// are no process groups to signal and no SIGTERM (a Job Object would be
// needed to reach the tree).
const portableKillMechanism = "direct child only (TerminateProcess)"

// closeInheritedFDs has nothing to do on Windows: os/exec passes the child
// an explicit handle list.
func closeInheritedFDs() {}

func setProcAttr(cmd *exec.Cmd, spec *Spec) error {
	if spec.Credential != nil {
		return fmt.Errorf("portable backend on windows cannot run a child as another user: %w", ErrNotSupported)
	}
	return nil
}

func (p *portableProcess) killTree() error {
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// termTree reports that there is no graceful stop; Stop kills at once.
func (p *portableProcess) termTree() error {
	return fmt.Errorf("SIGTERM on windows: %w", ErrNotSupported)
}

func exitStatus(ps *os.ProcessState) ExitStatus {
	return ExitStatus{Code: ps.ExitCode(), CPU: ps.UserTime() + ps.SystemTime()}
}

func procStats(int) (Stats, error) { return Stats{}, nil }
