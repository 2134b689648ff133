// SPDX-License-Identifier: Apache-2.0

package executor

// checkStrictModes cannot be honoured on Windows: there are no Unix owners
// and mode bits to check. Rather than skip a check the configuration asked
// for, it refuses; set strict_modes = false there.
func checkStrictModes(file string) error {
	return refused("%s: strict_modes cannot be checked on windows (set strict_modes = false)", file)
}

// fileIdent has nothing to compare on Windows: the gate refuses there
// whenever strict_modes is on, and the cached verdict ages out as usual.
type fileIdent struct{}

func statIdent(string) (fileIdent, bool) { return fileIdent{}, false }
