// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package main

import "errors"

// canAskUserManager: delegated user scopes are a Linux (systemd) thing.
func canAskUserManager() bool { return false }

func enterUserScope(string) (string, error) {
	return "", errors.New("no systemd user manager on this platform")
}
