// SPDX-License-Identifier: Apache-2.0

//go:build linux && amd64

package launcher

import _ "embed"

//go:embed launcher_amd64.bin
var blob []byte
