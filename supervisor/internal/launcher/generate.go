// SPDX-License-Identifier: Apache-2.0

package launcher

// The arm64 blob, beside launcher.go's amd64 one; go generate runs both
// whatever the host architecture (the arm64 one with Debian's cross gcc).
//go:generate env ARCH=arm64 sh build.sh
