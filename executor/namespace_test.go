// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The seed's matches_namespace cases (docs/seed-compatibility.md, FBL-29 #2343).
func TestMatchNamespace(t *testing.T) {
	for _, tc := range []struct {
		pattern, ns string
		want        bool
	}{
		{"*", "team", true},
		{"*", "", true}, // match-all fires without a namespace
		{"", "anything", true},
		{"", "", true},
		{"  ", "", true},
		{" * ", "x", true},
		{"team", "team", true},
		{"team", "team2", false},
		{"team", "team/a", false},
		{" team ", "team", true}, // the pattern is trimmed
		{"team", "", false},      // scoped hook, no namespace: does not fire
		{"team/*", "team", true}, // the prefix itself
		{"team/*", "team/a", true},
		{"team/*", "team/a/b", true},
		{"team/*", "teamwork", false},
		{"team/*", "team/", true},
		{"team/*", "", false},
		{"team/*", "other/team", false},
		{"te*", "team", false}, // no other glob syntax
		{"team/a*", "team/ab", false},
		{"team/*/x", "team/a/x", false},
		{"/*", "/x", true},
		{"/*", "x", false},
	} {
		assert.Equal(t, tc.want, MatchNamespace(tc.pattern, tc.ns), "%q vs %q", tc.pattern, tc.ns)
	}
}

func TestMatchAnyNamespace(t *testing.T) {
	assert.True(t, MatchAnyNamespace("*", nil), "match-all with no namespace")
	assert.True(t, MatchAnyNamespace("", []string{}))
	assert.False(t, MatchAnyNamespace("team", nil), "empty list is no namespace")
	assert.False(t, MatchAnyNamespace("team/*", []string{}))
	assert.True(t, MatchAnyNamespace("team/*", []string{"other", "team/x"}), "fire if any")
	assert.False(t, MatchAnyNamespace("team/*", []string{"other", "teamwork"}))
	assert.True(t, MatchAnyNamespace("a", []string{"a"}))
	assert.False(t, MatchAnyNamespace("a", []string{""}))
}
