// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package service

// Elsewhere status reports no process trees and no service figures.

func processTree(pid int) (string, []ProcessInfo) { return "", nil }

func serviceResources([]ProcessInfo) ServiceResources {
	return ServiceResources{Source: "not available on this platform"}
}
