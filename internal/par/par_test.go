package par

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDoBoundsAndKeepsSlots(t *testing.T) {
	var inFlight, peak atomic.Int32
	out := make([]int, 50)
	Do(len(out), 4, func(i int) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		out[i] = i * i
		inFlight.Add(-1)
	})
	assert.LessOrEqual(t, peak.Load(), int32(4))
	for i, v := range out {
		assert.Equal(t, i*i, v)
	}
	Do(0, 4, func(int) { t.Fatal("no call for n=0") })
}
