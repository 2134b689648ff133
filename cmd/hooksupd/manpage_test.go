// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// manPageOf names the docs/man source that documents each command.
var manPageOf = map[string]string{
	"serve":      "hooksupd-serve.8.md",
	"run":        "hooksupd-run.1.md",
	"fire":       "hooksupd.1.md",
	"check":      "hooksupd.1.md",
	"status":     "hooksupd.1.md",
	"ping":       "hooksupd.1.md",
	"reload":     "hooksupd.1.md",
	"version":    "hooksupd.1.md",
	"help":       "hooksupd.1.md",
	"completion": "hooksupd.1.md",
}

// optionLine matches a flag in the Options list of --help:
// "  -c, --config FILE" or "  --trace".
var optionLine = regexp.MustCompile(`^  (?:-([A-Za-z0-9]), )?--([A-Za-z0-9][A-Za-z0-9-]*)`)

// TestManPagesDocumentEveryFlag: every command is in hooksupd(1), and every
// flag its --help lists (long name, and short alias) appears in bold in its
// man page, so a new flag cannot ship undocumented.
func TestManPagesDocumentEveryFlag(t *testing.T) {
	pages := map[string]string{}
	read := func(name string) string {
		if s, ok := pages[name]; ok {
			return s
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", "man", name))
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = string(b)
		return pages[name]
	}
	list := hooksupd(t, "", "help")
	var names []string
	inList := false
	for _, l := range strings.Split(list.stdout, "\n") {
		switch {
		case l == "Commands:":
			inList = true
		case inList && strings.HasPrefix(l, "  "):
			names = append(names, strings.Fields(l)[0])
		case inList:
			inList = false
		}
	}
	if len(names) < 5 {
		t.Fatalf("found %d commands in `hooksupd help`:\n%s", len(names), list.stdout)
	}
	for _, name := range names {
		page, ok := manPageOf[name]
		if !ok {
			t.Errorf("command %s has no man page: add it to docs/man and to manPageOf", name)
			continue
		}
		if !strings.Contains(read("hooksupd.1.md"), "**"+name+"**") {
			t.Errorf("hooksupd.1.md does not list the command %s", name)
		}
		if name == "help" {
			continue
		}
		r := hooksupd(t, "", name, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d", name, r.code)
		}
		flags := 0
		for _, l := range strings.Split(r.stdout, "\n") {
			m := optionLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			flags++
			if !strings.Contains(read(page), "**--"+m[2]+"**") {
				t.Errorf("%s: --%s is not documented in docs/man/%s", name, m[2], page)
			}
			if m[1] != "" && !strings.Contains(read(page), "**-"+m[1]+"**") {
				t.Errorf("%s: -%s is not documented in docs/man/%s", name, m[1], page)
			}
		}
		if flags == 0 && strings.Contains(r.stdout, "Options:") {
			t.Errorf("%s --help has options this test cannot parse:\n%s", name, r.stdout)
		}
	}
}
