// SPDX-License-Identifier: Apache-2.0

// Package dynuser gives each hook a uid and gid of its own, in the spirit
// of systemd's DynamicUser=: taken from a configured range, needing no
// passwd entry, distinct per hook name, and the same for the same name
// from one start to the next (so files a hook left in its
// read_write_paths stay its own).
//
// It holds plain allocation only. It creates no account, writes nothing
// and refuses ids that /etc/passwd or /etc/group already use, so a
// dynamic user never aliases a real one.
package dynuser

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
)

// DefaultRange is systemd's range for dynamic users (61184-65519), which
// distributions keep free of static accounts.
const DefaultRange = "61184-65519"

// Range is an inclusive range of ids.
type Range struct{ First, Last uint32 }

// Size is the number of ids in r.
func (r Range) Size() uint32 { return r.Last - r.First + 1 }

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ParseRange parses "FIRST-LAST". The range must lie within 1000 and
// 2147483646 and must not include 65534 and 65535 (nobody and the
// 16-bit -1).
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("dynamic users %q: want FIRST-LAST, such as %s", s, DefaultRange)
	}
	first, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	switch {
	case err1 != nil || err2 != nil:
		return Range{}, fmt.Errorf("dynamic users %q: want two decimal ids FIRST-LAST", s)
	case first > last:
		return Range{}, fmt.Errorf("dynamic users %q: first id is above the last", s)
	case first < 1000:
		return Range{}, fmt.Errorf("dynamic users %q: ids below 1000 are system accounts", s)
	case last > 2147483646:
		return Range{}, fmt.Errorf("dynamic users %q: ids above 2147483646 are not portable", s)
	case first <= 65535 && last >= 65534:
		return Range{}, fmt.Errorf("dynamic users %q: must not include 65534 (nobody) or 65535", s)
	}
	return Range{First: uint32(first), Last: uint32(last)}, nil
}

// ErrExhausted is returned when every id of the range is taken.
var ErrExhausted = errors.New("dynamic users: range exhausted")

// Allocator hands out ids of a range, one per name. It is safe for
// concurrent use.
type Allocator struct {
	r     Range
	taken map[uint32]bool // used by passwd or group entries

	mu     sync.Mutex
	byName map[string]uint32
	byID   map[uint32]string
}

// New returns an allocator for r that avoids the ids of /etc/passwd and
// /etc/group.
func New(r Range) *Allocator {
	taken := map[uint32]bool{}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		for _, id := range fileIDs(f) {
			taken[id] = true
		}
	}
	return NewAvoiding(r, taken)
}

// NewAvoiding returns an allocator for r that never hands out an id in
// taken.
func NewAvoiding(r Range, taken map[uint32]bool) *Allocator {
	return &Allocator{r: r, taken: taken, byName: map[string]uint32{}, byID: map[uint32]string{}}
}

// Reserve keeps id from being handed out, as an id a configured user
// already has: a dynamic user must not alias it.
func (a *Allocator) Reserve(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.byID[id]; !ok {
		a.byID[id] = ""
	}
}

// ID returns name's id: the same for the same name, distinct across
// names. The first choice is a hash of the name, so that the id does not
// depend on the order names are asked for unless two names collide.
func (a *Allocator) ID(name string) (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.byName[name]; ok {
		return id, nil
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	size := a.r.Size()
	start := h.Sum32() % size
	for i := uint32(0); i < size; i++ {
		id := a.r.First + (start+i)%size
		if a.taken[id] {
			continue
		}
		if _, used := a.byID[id]; used {
			continue
		}
		a.byName[name], a.byID[id] = id, name
		return id, nil
	}
	return 0, fmt.Errorf("%w: %d names in %s", ErrExhausted, len(a.byName), a.r)
}

// fileIDs returns the third field (the numeric id) of each line of a
// passwd- or group-style file.
func fileIDs(path string) []uint32 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ids []uint32
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(fields[2], 10, 32); err == nil {
			ids = append(ids, uint32(id))
		}
	}
	return ids
}
