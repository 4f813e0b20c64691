package procstat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPeakRSSMB(t *testing.T) {
	assert.InDelta(t, 212.5, peakRSSMB("Name:\tx\nVmPeak:\t  900000 kB\nVmHWM:\t  217600 kB\nVmRSS:\t 1000 kB\n"), 0.01)
	assert.Zero(t, peakRSSMB("Name:\tx\n"))
	assert.Greater(t, PeakRSSMB(), 1.0, "this test process has a resident set")
}
