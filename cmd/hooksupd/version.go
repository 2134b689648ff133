package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version is set at link time by release builds:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/hooksupd
//
// Without it the module version from the build info is used ("(devel)"
// for a build from a checkout, plus the VCS revision when known).
var version string

func init() {
	register(&command{
		Name:     "version",
		Synopsis: "version",
		Summary:  "print the version, the Go version and the platform",
		Run:      runVersion,
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

// writeVersion prints e.g.
//
//	hooksupd v1.2.3 (revision 0123456789ab, modified)
//	go1.26.8 linux/amd64
func writeVersion(w io.Writer) {
	v, rev, modified := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(w, "%s %s", progName, v)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(w, " (revision %s", rev)
		if modified {
			fmt.Fprint(w, ", modified")
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintf(w, "\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
