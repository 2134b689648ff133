// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
)

// supervisorError marks a start failure of the backend's own machinery;
// it matches ErrSupervisor and its cause.
type supervisorError struct{ err error }

func (e *supervisorError) Error() string   { return e.err.Error() }
func (e *supervisorError) Unwrap() []error { return []error{ErrSupervisor, e.err} }

// supervisorFault marks err as the supervisor's failure. A closed backend,
// a missing kernel feature (permanent, and said so by ErrNotSupported) and
// the caller's own context ending are left as they are: trying again
// would not help.
func supervisorFault(err error) error {
	switch {
	case err == nil,
		errors.Is(err, ErrSupervisor),
		errors.Is(err, ErrClosed),
		errors.Is(err, errPoolClosed),
		errors.Is(err, ErrNotSupported),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return &supervisorError{err}
}
