package playlist

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with "equal jitter": the n-th delay
// (n from 1) is d/2 plus a random part of d/2, where d = min·2^(n-1) capped at
// max.
type backoff struct {
	min, max time.Duration
}

func (b backoff) delay(n int) time.Duration {
	d := b.min
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepCtx waits for d on after (time.After unless a test injects a clock) or
// until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, after func(time.Duration) <-chan time.Time, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-after(d):
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
