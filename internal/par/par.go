// Package par runs a layer's independent requests at once, bounded.
package par

import "sync"

// Do calls f(0) .. f(n-1), at most limit at a time, and returns when all
// have returned. Each f writes only its own slot of the caller's results,
// so the results keep their order whatever the timing.
func Do(n, limit int, f func(i int)) {
	if limit < 1 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
