// SPDX-License-Identifier: Apache-2.0

//go:build linux && arm64

package launcher

import _ "embed"

//go:embed launcher_arm64.bin
var blob []byte
