// Package procstat reads this process's figures from /proc for the
// benchmarks: what they print is measured, not typed.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// PeakRSSMB is this process's resident-set high-water mark (VmHWM) in MiB;
// 0 where /proc is not there.
func PeakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return peakRSSMB(string(data))
}

func peakRSSMB(status string) float64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
