// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
)

// version and commit are set at link time by `make build` and release
// builds:
//
//	go build -ldflags "-X main.version=v0.2.0 -X main.commit=0123456789ab" ./cmd/hooksupd
//
// The version follows semantic versioning; the Makefile takes it from the
// VERSION file at the top of the tree. Without the flags the module version
// from the build info is used ("(devel)" for a build from a checkout), and
// the VCS revision the go command recorded.
var (
	version string
	commit  string
)

func init() {
	register(&command{
		Name:     "version",
		Synopsis: "version",
		Summary:  "print the version, commit, Go version and kernel mechanisms",
		Help: "Prints the version, the commit it was built from, the Go version and\n" +
			"platform, and the kernel mechanisms found here (cgroup layout, pidfd,\n" +
			"cgroup.kill, the pre-placed launcher). The probes are read-only: they\n" +
			"create no cgroup and start no process; 'hooksupd check' reports what a\n" +
			"configured backend chose.",
		Run:  runVersion,
		Args: argNone,
	})
}

func runVersion(args []string) int {
	fs := newFlagSet(commands["version"])
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("version: takes no arguments")
		return exitUsage
	}
	writeVersion(os.Stdout)
	return exitOK
}

// buildVersion returns the version, the commit (at most 12 hex digits)
// and whether the tree had uncommitted changes, from the link-time
// variables and else from the build info.
func buildVersion() (v, rev string, modified bool) {
	v, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return v, rev, modified
}

// writeVersion prints e.g.
//
//	hooksupd v0.2.0
//	commit    0123456789ab (modified)
//	go        go1.26.8 linux/amd64
//	kernel    Linux 6.1.0-28-amd64 x86_64
//	cgroup    v2
//	pidfd     yes
//	...
//
// The first line alone is the version, for scripts (`| head -1`).
func writeVersion(w io.Writer) {
	v, rev, modified := buildVersion()
	fmt.Fprintf(w, "%s %s\n", progName, v)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rev == "" {
		rev = "unknown"
	} else if modified {
		rev += " (modified)"
	}
	fmt.Fprintf(tw, "commit\t%s\n", rev)
	fmt.Fprintf(tw, "go\t%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, kv := range kernelMechanisms() {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
}

// versionString is the version without the revision: the -X main.version
// of a release build, else the module version, else "(devel)".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
