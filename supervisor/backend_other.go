// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package supervisor

import "fmt"

// New returns the backend opts.Kind asks for. Off Linux only the portable
// backend exists: "" and "auto" choose it, and "linux" is an error
// wrapping ErrNotSupported.
func New(opts Options) (Backend, error) {
	switch opts.Kind {
	case "", "auto", "portable":
		return NewPortable(opts)
	case "linux":
		return nil, fmt.Errorf("linux backend on this OS: %w", ErrNotSupported)
	default:
		return nil, fmt.Errorf("unknown supervisor backend %q", opts.Kind)
	}
}
