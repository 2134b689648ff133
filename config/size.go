// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ParseSize parses a byte size: a plain number of bytes ("1048576") or a
// number with a binary suffix K, M, G or T (also written KiB, MiB, GiB,
// TiB; case-insensitive), as systemd reads MemoryMax=. "1M" is 1 MiB. A
// fraction is allowed with a suffix ("1.5G") and rounds down to whole
// bytes. Decimal units (MB) are refused rather than guessed.
func ParseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	lower := strings.ToLower(num)
	shift := 0
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, shift = num[:len(num)-len(u.suffix)], u.shift
			break
		}
	}
	if shift == 0 && strings.HasSuffix(lower, "b") {
		return 0, fmt.Errorf("invalid size %q: use K, M, G or T (binary units), or a plain number of bytes", s)
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if !sizeDigits(whole) || (hasFrac && !sizeDigits(frac)) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a number with K, M, G or T", s)
	}
	if hasFrac && shift == 0 {
		return 0, fmt.Errorf("invalid size %q: a fraction needs a unit (K, M, G or T)", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64>>shift {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	n := w << shift
	if hasFrac {
		// 12 digits are plenty: 2^40 < 10^13, so later digits cannot move
		// the whole-byte result.
		if len(frac) > 12 {
			frac = frac[:12]
		}
		f, _ := strconv.ParseUint(frac, 10, 64)
		// f * 2^shift / 10^len(frac) < 2^shift: the 128-bit division
		// cannot overflow.
		hi, lo := bits.Mul64(f, 1<<shift)
		q, _ := bits.Div64(hi, lo, uint64(math.Pow10(len(frac))))
		add := int64(q)
		if n > math.MaxInt64-add {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		n += add
	}
	return n, nil
}

// sizeUnits are the suffixes ParseSize knows, longest first.
var sizeUnits = []struct {
	suffix string
	shift  int
}{
	{"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40},
	{"k", 10}, {"m", 20}, {"g", 30}, {"t", 40},
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func sizeDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Bounds of cpu_max, from the kernel's cpu controller: the period is
// 1ms..1s, the quota at least 1ms.
const (
	cpuDefaultPeriod = 100 * time.Millisecond
	cpuMinPeriod     = time.Millisecond
	cpuMaxPeriod     = time.Second
	cpuMinQuota      = time.Millisecond
	// cpuMaxCPUs bounds the quota at 1024 CPUs' worth, far above any
	// host this runs on, to keep the arithmetic far from overflow.
	cpuMaxCPUs = 1024
)

// parseCPUMax parses a cpu_max value: "20%" of one CPU ("150%" is 1.5
// CPUs) over the default 100ms period, or "QUOTA/PERIOD" in microseconds
// as cgroup v2's cpu.max writes it ("50000/100000").
func parseCPUMax(s string) (quota, period time.Duration, err error) {
	v := strings.TrimSpace(s)
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, perr := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if perr != nil || math.IsNaN(p) || math.IsInf(p, 0) {
			return 0, 0, fmt.Errorf("%q is not a percentage (want e.g. \"20%%\" or \"150%%\")", s)
		}
		if p < 1 || p > cpuMaxCPUs*100 {
			return 0, 0, fmt.Errorf("%q is out of range: want 1%% to %d%%", s, cpuMaxCPUs*100)
		}
		period = cpuDefaultPeriod
		quota = time.Duration(p / 100 * float64(period))
		quota = quota.Round(time.Microsecond)
		return quota, period, nil
	}
	q, per, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want a percentage of one CPU (\"20%%\") or QUOTA/PERIOD in microseconds (\"50000/100000\")", s)
	}
	qu, qerr := strconv.ParseInt(strings.TrimSpace(q), 10, 64)
	pu, perr := strconv.ParseInt(strings.TrimSpace(per), 10, 64)
	if qerr != nil || perr != nil {
		return 0, 0, fmt.Errorf("%q: QUOTA and PERIOD must be integers (microseconds)", s)
	}
	period = time.Duration(pu) * time.Microsecond
	if pu < int64(cpuMinPeriod/time.Microsecond) || pu > int64(cpuMaxPeriod/time.Microsecond) {
		return 0, 0, fmt.Errorf("%q: period must be %d..%d microseconds", s, cpuMinPeriod/time.Microsecond, cpuMaxPeriod/time.Microsecond)
	}
	if qu < int64(cpuMinQuota/time.Microsecond) || qu > pu*cpuMaxCPUs {
		return 0, 0, fmt.Errorf("%q: quota must be %d microseconds to %d periods", s, cpuMinQuota/time.Microsecond, cpuMaxCPUs)
	}
	return time.Duration(qu) * time.Microsecond, period, nil
}
