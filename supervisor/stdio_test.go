// SPDX-License-Identifier: Apache-2.0

//go:build unix

package supervisor

import (
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestConformanceNilStdioIsDevNull: a Spec without files or Pipes gives
// the child /dev/null on 0, 1 and 2, as os/exec does: a child writing a
// megabyte nobody reads finishes, reading stdin sees EOF, and no pipe end
// is exposed (or leaked: conform checks fds after Close).
func TestConformanceNilStdioIsDevNull(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		script := `head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; read x && exit 4;`
		if runtime.GOOS == "linux" {
			// readlink's own fds 0 and 2 are the shell's; 3 is a copy of
			// the shell's stdout (the substitution takes readlink's 1).
			script += ` exec 3>&1; for fd in 0 2 3; do [ "$(readlink /proc/self/fd/$fd)" = /dev/null ] || exit 5; done`
		}
		spec := cfSh(script)
		spec.Pipes = 0
		p := cfStart(t, b, spec)
		if p.Stdin() != nil || p.Stdout() != nil || p.Stderr() != nil {
			t.Errorf("pipes exposed for nil stdio: %v %v %v", p.Stdin(), p.Stdout(), p.Stderr())
		}
		if st := cfWait(t, p, 30*time.Second); !st.Success() {
			t.Errorf("child with /dev/null stdio: %v (4: stdin was not at EOF, 5: an fd was not /dev/null)", st)
		}
	})
}

// TestConformancePipesAskedFor: Pipes picks the streams that are pipes;
// the others are /dev/null.
func TestConformancePipesAskedFor(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		spec := cfSh(`echo out; echo err >&2; read x && exit 4; exit 0`)
		spec.Pipes = PipeStderr
		p := cfStart(t, b, spec)
		if p.Stdin() != nil || p.Stdout() != nil || p.Stderr() == nil {
			t.Fatalf("Pipes=PipeStderr exposed stdin %v, stdout %v, stderr %v", p.Stdin(), p.Stdout(), p.Stderr())
		}
		got, err := io.ReadAll(p.Stderr())
		if err != nil || string(got) != "err\n" {
			t.Errorf("stderr pipe: %q, %v", got, err)
		}
		if st := cfWait(t, p, 10*time.Second); !st.Success() {
			t.Errorf("child: %v (4: stdin was not /dev/null)", st)
		}
	})
}

// TestConformanceStdioFileAndPipe: a stream cannot be both.
func TestConformanceStdioFileAndPipe(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		f, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		spec := cfSh("true")
		spec.Stdout = f // and Pipes is PipeAll
		_, err = b.Start(t.Context(), spec)
		var se *SpawnError
		if !errors.As(err, &se) || !errors.Is(err, ErrSpawn) {
			t.Errorf("Start with stdout both a file and a pipe: %v, want a SpawnError", err)
		}
		spec.Stdout, spec.Pipes = nil, 1<<5
		if _, err = b.Start(t.Context(), spec); err == nil {
			t.Error("Start with an unknown Pipes bit succeeded")
		}
	})
}
