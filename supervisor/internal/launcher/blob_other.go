// SPDX-License-Identifier: Apache-2.0

//go:build !(linux && (amd64 || arm64))

package launcher

// blob is nil: there is no launcher for this platform yet, and the
// supervisor spawns hooks directly.
var blob []byte
