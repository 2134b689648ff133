// SPDX-License-Identifier: Apache-2.0

// Package units parses the value grammars of the command lines hooksupd
// stands in for: GNU timeout(1) durations, and systemd's resource-control
// sizes, CPU quotas and task counts (systemd.resource-control(5)).
//
// It holds pure functions of their input (the host's RAM or pid limit is a
// parameter, never read here), and refuses rather than guesses: a CPU
// quota without "%" or a decimal size unit ("MB") is an error that says
// what to write instead.
package units

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Infinity is what ParseSize and ParseTasks return for "infinity": no
// limit. It is larger than any real size or count.
const Infinity int64 = math.MaxInt64

// MaxDuration is the longest duration: ParseDuration clamps larger values
// (and "inf") to it, as GNU timeout clamps to the largest time it can
// arm. It is about 292 years.
const MaxDuration = time.Duration(math.MaxInt64)

// ParseDuration parses a duration as GNU timeout(1) does: a non-negative
// floating-point number ("10", ".1", "2.5e3", "0x1p3", "inf") with an
// optional unit suffix s (seconds, the default), m (minutes), h (hours)
// or d (days). A bare number is seconds, so "--grace 1" means one second.
// Leading blanks are skipped, nothing may follow the suffix. Go's
// duration syntax ("500ms", "1m30s"), which GNU refuses, is accepted too.
//
// Values too large for a time.Duration are clamped to MaxDuration; a
// positive value below one nanosecond (including one that underflows,
// "1e-10000") rounds up to 1ns, so a timeout that was asked for is never
// silently dropped. Zero is zero: for a timeout that means none.
func ParseDuration(s string) (time.Duration, error) {
	num := strings.TrimLeft(s, " \t\n\v\f\r")
	mult := 1.0
	f, ok := parseFloat(num)
	if !ok && num != "" {
		switch num[len(num)-1] {
		case 's':
			mult = 1
		case 'm':
			mult = 60
		case 'h':
			mult = 3600
		case 'd':
			mult = 86400
		default:
			return 0, fmt.Errorf("invalid time interval %q: want a number of seconds with an optional s, m, h or d (\"10\", \".5\", \"1m\", \"1d\", \"inf\")", s)
		}
		num = num[:len(num)-1]
		f, ok = parseFloat(num)
	}
	if !ok {
		// Go's duration syntax ("500ms", "1m30s") as well: GNU refuses
		// it, so no timeout(1) command line changes meaning.
		if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && s == strings.TrimLeft(s, " \t\n\v\f\r") {
			if d < 0 {
				return 0, fmt.Errorf("invalid time interval %q: must not be negative", s)
			}
			return d, nil
		}
	}
	if !ok || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid time interval %q: want a number of seconds with an optional s, m, h or d (\"10\", \".5\", \"1m\", \"1d\", \"inf\")", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("invalid time interval %q: must not be negative", s)
	}
	ns := f * mult * float64(time.Second)
	switch {
	case ns >= float64(MaxDuration):
		return MaxDuration, nil
	case ns > 0 && ns < 1:
		return 1, nil
	case ns == 0 && nonZeroMantissa(num):
		return 1, nil // underflowed: a tiny positive value, not zero
	}
	return time.Duration(math.Ceil(ns)), nil
}

// parseFloat reads a number as C's strtod does for the forms a user
// types: decimal with optional exponent, hexadecimal ("0x10", "0x1p-3"),
// "inf"/"infinity" and a leading sign. It refuses what strtod would not
// read (Go's digit separators "_").
func parseFloat(s string) (float64, bool) {
	if s == "" || strings.ContainsRune(s, '_') {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	lower := strings.ToLower(body)
	if strings.HasPrefix(lower, "0x") && !strings.ContainsRune(lower, 'p') {
		// strtod reads hexadecimal without a binary exponent; Go wants one.
		s += "p0"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// nonZeroMantissa reports whether the digits before the exponent of a
// number are not all zero: "1e-10000" is a positive number whose float
// value underflowed to 0, "0e5" is zero.
func nonZeroMantissa(s string) bool {
	s = strings.ToLower(strings.TrimLeft(s, "+-"))
	hex := strings.HasPrefix(s, "0x")
	if hex {
		s = s[2:]
	}
	for _, c := range s {
		switch {
		case c >= '1' && c <= '9', hex && c >= 'a' && c <= 'f':
			return true
		case c == 'e' && !hex, c == 'p':
			return false
		}
	}
	return false
}

// sizeUnits are the binary suffixes ParseSize knows, longest first
// (matched case-insensitively).
var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40}, {"pib", 50}, {"eib", 60},
	{"k", 10}, {"m", 20}, {"g", 30}, {"t", 40}, {"p", 50}, {"e", 60}, {"b", 0},
}

// ParseSize parses a byte size as systemd reads MemoryMax= and friends: a
// number of bytes ("1048576", "512B"), a number with a binary suffix K, M,
// G, T, P or E (1024-based; also written KiB, MiB, ...; case-insensitive),
// which may have a fraction ("1.5G", rounded down to whole bytes),
// "infinity" (returns Infinity), or a percentage of totalRAM ("50%";
// refused when totalRAM is 0). Decimal units ("MB") are refused rather
// than guessed. A blank between the number and the suffix is allowed.
func ParseSize(s string, totalRAM uint64) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "infinity" {
		return Infinity, nil
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		if totalRAM == 0 {
			return 0, fmt.Errorf("invalid size %q: a percentage needs the total memory, which is unknown", s)
		}
		frac, err := parsePercent(p)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q: %v", s, err)
		}
		v := frac * float64(totalRAM)
		if v >= float64(math.MaxInt64) {
			return Infinity, nil
		}
		return int64(v), nil
	}
	lower := strings.ToLower(t)
	num, shift, unit := t, uint(0), false
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, shift, unit = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.shift, true
			break
		}
	}
	if unit && shift == 0 && num != "" && strings.ContainsAny(num[len(num)-1:], "kKmMgGtTpPeE") {
		return 0, fmt.Errorf("invalid size %q: decimal units are not supported; use K, M, G or T (1024-based), or a plain number of bytes", s)
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if !digits(whole) || (hasFrac && !digits(frac)) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, a number with K, M, G or T, N%% of RAM, or infinity", s)
	}
	if hasFrac && shift == 0 {
		return 0, fmt.Errorf("invalid size %q: a fraction needs a unit (K, M, G or T)", s)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxInt64>>shift {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	n := int64(w << shift)
	if hasFrac {
		// 12 digits are plenty: later digits cannot move the whole-byte
		// result of at most 2^60 times the fraction.
		if len(frac) > 12 {
			frac = frac[:12]
		}
		f, _ := strconv.ParseUint(frac, 10, 64)
		// f * 2^shift / 10^len(frac) < 2^shift: the 128-bit division
		// cannot overflow.
		hi, lo := bits.Mul64(f, 1<<shift)
		q, _ := bits.Div64(hi, lo, uint64(math.Pow10(len(frac))))
		if n > math.MaxInt64-int64(q) {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		n += int64(q)
	}
	return n, nil
}

// parsePercent reads the number of a percentage ("50" of "50%") as a
// fraction (0.5).
func parsePercent(p string) (float64, error) {
	p = strings.TrimSpace(p)
	whole, frac, hasFrac := strings.Cut(p, ".")
	if !digits(whole) || (hasFrac && !digits(frac)) {
		return 0, errors.New("want a percentage such as 50%")
	}
	f, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return 0, errors.New("want a percentage such as 50%")
	}
	return f / 100, nil
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
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

// ParseCPUQuota parses systemd's CPUQuota=: a percentage of one CPU
// ("20%", "150%" for one and a half CPUs), and returns the share of one
// CPU (0.2, 1.5). A bare number is refused with a hint, because "20" could
// mean 20% or 20 CPUs; below 1% is refused (the kernel's minimum quota is
// 1ms per 100ms period).
func ParseCPUQuota(s string) (float64, error) {
	t := strings.TrimSpace(s)
	p, ok := strings.CutSuffix(t, "%")
	if !ok {
		if _, err := parsePercent(t); err == nil {
			return 0, fmt.Errorf("invalid CPU quota %q: a percentage of one CPU is needed; did you mean %s%%?", s, t)
		}
		return 0, fmt.Errorf("invalid CPU quota %q: want a percentage of one CPU such as 20%% or 150%%", s)
	}
	f, err := parsePercent(p)
	if err != nil {
		return 0, fmt.Errorf("invalid CPU quota %q: want a percentage of one CPU such as 20%% or 150%%", s)
	}
	if f < 0.01 {
		return 0, fmt.Errorf("invalid CPU quota %q: the minimum is 1%%", s)
	}
	if f > 1e6 {
		return 0, fmt.Errorf("invalid CPU quota %q: too large", s)
	}
	return f, nil
}

// ParseTasks parses systemd's TasksMax=: a number of tasks, "infinity"
// (returns Infinity), or a percentage of max (the host's task limit,
// kernel.pid_max or kernel.threads-max, whichever is lower; refused when
// max is 0). Zero is refused: no task could run.
func ParseTasks(s string, max uint64) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "infinity" {
		return Infinity, nil
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		if max == 0 {
			return 0, fmt.Errorf("invalid task count %q: a percentage needs the host's task limit, which is unknown", s)
		}
		f, err := parsePercent(p)
		if err != nil {
			return 0, fmt.Errorf("invalid task count %q: %v", s, err)
		}
		n := int64(f * float64(max))
		if n < 1 {
			return 0, fmt.Errorf("invalid task count %q: less than one task", s)
		}
		return n, nil
	}
	if !digits(t) {
		return 0, fmt.Errorf("invalid task count %q: want a number, N%% or infinity", s)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid task count %q: too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("invalid task count %q: must be at least 1", s)
	}
	return n, nil
}
