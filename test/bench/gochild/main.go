// SPDX-License-Identifier: Apache-2.0

// Command gochild is the static Go hook of the benchmarks: with no
// argument it is an exec-mode hook (reads stdin to EOF, prints one allow
// decision); run as "go-daemon" (a second name for the same binary) or
// with the argument "daemon" it answers every request line with one allow
// decision, in order. It does exactly what the C children in ../c do, so
// the two differ only in the language runtime's start-up and footprint.
package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
)

var answer = []byte("{\"action\":\"allow\"}\n")

func main() {
	if filepath.Base(os.Args[0]) == "go-daemon" || len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(daemon())
	}
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(answer); err != nil {
		os.Exit(1)
	}
}

// daemon counts newlines in what it reads and answers each one; it never
// holds a whole request in memory.
func daemon() int {
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriter(os.Stdout)
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		for k := bytes.Count(buf[:n], []byte{'\n'}); k > 0; k-- {
			out.Write(answer)
		}
		if out.Buffered() > 0 {
			if out.Flush() != nil {
				return 1
			}
		}
		if err != nil {
			return 0
		}
	}
}
