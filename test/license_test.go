// SPDX-License-Identifier: Apache-2.0

package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSPDXHeaders: every source file of the repository says its licence
// in its first lines, so a file copied out of it (vendored, packaged)
// still carries it.
func TestSPDXHeaders(t *testing.T) {
	if os.Getenv("VMTEST") == "1" {
		// The VM gets test binaries, not the source tree; the host run
		// checks the files.
		t.Skip("no source tree in the VM")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	const tag = "SPDX-License-Identifier: Apache-2.0"
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case strings.HasPrefix(d.Name(), ".") && rel != ".",
				d.Name() == "out", d.Name() == "bin", d.Name() == "testdata", d.Name() == "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".c", ".h", ".sh", ".py":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		head := string(b[:min(len(b), 400)])
		if !strings.Contains(head, tag) {
			t.Errorf("%s: no %q in its first lines", rel, tag)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Errorf("only %d source files found under %s", checked, root)
	}
}
