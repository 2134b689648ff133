// SPDX-License-Identifier: Apache-2.0

package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeGoSnippetsAreExamples: every ```go block of README.md is a
// run of lines of some Example function of the module (compared line by
// line, indentation aside), so each snippet compiles with the package it
// shows and changes with its API.
func TestReadmeGoSnippetsAreExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^ *```go\n(.*?)^ *```\n").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 3 {
		t.Fatalf("README.md has %d go blocks; the test expects the library's snippets", len(blocks))
	}
	type example struct {
		name  string
		lines []string
	}
	var examples []example
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(src), "func Example") {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Example") || fn.Body == nil {
				continue
			}
			body := src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset]
			examples = append(examples, example{path + ":" + fn.Name.Name, trimLines(string(body))})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		want := trimLines(b[1])
		found := ""
		for _, ex := range examples {
			for i := 0; i+len(want) <= len(ex.lines) && found == ""; i++ {
				if slices.Equal(ex.lines[i:i+len(want)], want) {
					found = ex.name
				}
			}
		}
		if found == "" {
			t.Errorf("README's go block is in no Example function; make it one (or copy the changed example back):\n%s", b[1])
		} else {
			t.Logf("README block %.40q... is %s", want[0], found)
		}
	}
}

// trimLines splits s into lines without their indentation, dropping the
// blank lines at either end.
func trimLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
