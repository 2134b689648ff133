// SPDX-License-Identifier: Apache-2.0

package executor

import "syscall"

func statCtime(st *syscall.Stat_t) syscall.Timespec { return st.Ctimespec }
