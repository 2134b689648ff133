// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"github.com/hooksupd/hooksupd/executor"
)

// The exit status of `hooksupd fire` by decision.
func TestDecisionExit(t *testing.T) {
	for a, want := range map[executor.Action]int{
		executor.ActionAllow: 0, executor.ActionModify: 0, executor.ActionDeny: 3, executor.ActionAskUser: 4,
	} {
		if got := decisionExit(a); got != want {
			t.Errorf("decisionExit(%s) = %d, want %d", a, got, want)
		}
	}
}
