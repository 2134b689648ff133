// SPDX-License-Identifier: Apache-2.0

package dynuser

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestParseRange(t *testing.T) {
	r, err := ParseRange(DefaultRange)
	if err != nil || r != (Range{61184, 65519}) {
		t.Fatalf("default: %v %v", r, err)
	}
	for _, bad := range []string{"", "61000", "a-b", "62000-61000", "10-2000", "60000-70000", "1000-4294967295"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIDsStableAndDistinct(t *testing.T) {
	r := Range{61000, 61009}
	a := NewAvoiding(r, map[uint32]bool{61003: true})
	seen := map[uint32]string{}
	for i := range 9 {
		name := fmt.Sprintf("hook-%d", i)
		id, err := a.ID(name)
		if err != nil {
			t.Fatal(err)
		}
		if id < r.First || id > r.Last || id == 61003 {
			t.Errorf("%s: %d outside the range or taken", name, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share %d", name, other, id)
		}
		seen[id] = name
		if again, _ := a.ID(name); again != id {
			t.Errorf("%s: %d then %d", name, id, again)
		}
	}
	if _, err := a.ID("one-too-many"); !errors.Is(err, ErrExhausted) {
		t.Errorf("10th name in a 10-id range with one taken: %v", err)
	}
	// A name asked for first gets its hash slot: the same id in a fresh
	// allocator (the next start), whatever other names come after.
	first, _ := NewAvoiding(r, map[uint32]bool{61003: true}).ID("hook-0")
	for id, name := range seen {
		if name == "hook-0" && first != id {
			t.Errorf("hook-0: %d in a new allocator, was %d", first, id)
		}
	}
}

func TestAvoidsPasswd(t *testing.T) {
	// /etc/passwd's ids are never handed out, whatever the range.
	ids := fileIDs("/etc/passwd")
	if len(ids) == 0 {
		testutil.SkipOrFail(t, "no /etc/passwd")
	}
	root := Range{First: ids[0], Last: ids[0]}
	if _, err := New(root).ID("x"); !errors.Is(err, ErrExhausted) {
		t.Errorf("id %d of /etc/passwd handed out: %v", ids[0], err)
	}
}
