package executor

// checkStrictModes cannot be honoured on Windows: there are no Unix owners
// and mode bits to check. Rather than skip a check the configuration asked
// for, it refuses; set strict_modes = false there.
func checkStrictModes(file string) error {
	return refused("%s: strict_modes cannot be checked on windows (set strict_modes = false)", file)
}
