// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a Loop
// that was not stopped, a watch goroutine, a writer.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
