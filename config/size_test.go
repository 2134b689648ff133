// SPDX-License-Identifier: Apache-2.0

package config

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"512K", 512 << 10},
		{"64M", 64 << 20},
		{"1G", 1 << 30},
		{"2T", 2 << 40},
		{"64m", 64 << 20},
		{"64MiB", 64 << 20},
		{"1gib", 1 << 30},
		{" 8K ", 8 << 10},
		{"1.5G", 3 << 29},
		{"0.5K", 512},
		{"1.0000001K", 1024},
		{"1.9999999999999999999K", 2047},
		{"9223372036854775807", math.MaxInt64},
		{"8388607T", 8388607 << 40},
		{"8388607.5T", 8388607<<40 + 1<<39},
		{"8388607.999999999999T", 1<<63 - 2}, // 12 fraction digits count
	} {
		got, err := ParseSize(tc.in)
		if assert.NoError(t, err, tc.in) {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
	for _, bad := range []string{
		"", " ", "M", "-1", "-1M", "+1M", "1MB", "1 M", "1KB", "1B", "1b", "1.5", "1.G", ".5G",
		"1e3", "0x10", "9223372036854775808", "8388608T", "1P", "1_000", "∞",
	} {
		_, err := ParseSize(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseCPUMax(t *testing.T) {
	for _, tc := range []struct {
		in            string
		quota, period time.Duration
	}{
		{"20%", 20 * time.Millisecond, 100 * time.Millisecond},
		{"150%", 150 * time.Millisecond, 100 * time.Millisecond},
		{"1%", time.Millisecond, 100 * time.Millisecond},
		{"12.5%", 12500 * time.Microsecond, 100 * time.Millisecond},
		{"102400%", 102400 * time.Millisecond, 100 * time.Millisecond},
		{"50000/100000", 50 * time.Millisecond, 100 * time.Millisecond},
		{"1000/1000", time.Millisecond, time.Millisecond},
		{"200000/1000000", 200 * time.Millisecond, time.Second},
	} {
		q, p, err := parseCPUMax(tc.in)
		if assert.NoError(t, err, tc.in) {
			assert.Equal(t, tc.quota, q, tc.in)
			assert.Equal(t, tc.period, p, tc.in)
		}
	}
	for _, bad := range []string{"", "%", "0%", "0.9%", "102401%", "NaN%", "Inf%", "half", "50", "max",
		"999/100000", "50000/999", "50000/1000001", "a/b", "1.5/100000", "-1000/100000", "1025000/1000"} {
		_, _, err := parseCPUMax(bad)
		assert.Error(t, err, "%q", bad)
	}
}
