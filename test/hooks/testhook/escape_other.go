// SPDX-License-Identifier: Apache-2.0

//go:build unix && !linux

package main

import "errors"

func escape([]string) int {
	fatal(errors.New("escape: Linux only"))
	return 2
}

func nsPidfile([]string) int {
	fatal(errors.New("ns-pidfile: Linux only"))
	return 2
}
