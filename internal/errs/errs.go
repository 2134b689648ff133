// SPDX-License-Identifier: Apache-2.0

// Package errs holds the one ErrNotSupported value that every package of
// hooksupd re-exports, so that errors.Is(err, X.ErrNotSupported) holds for
// a missing kernel feature whichever layer reported it. It holds nothing
// else.
package errs

import "errors"

// ErrNotSupported: the running kernel, platform or configuration cannot
// provide a feature that was asked for.
var ErrNotSupported = errors.New("not supported")
