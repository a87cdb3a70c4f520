package seeder

import (
	"sync"

	"github.com/superpeer/superpeer/pkg/playlist"
)

// budget is the process-wide allowance of segment bytes held in memory
// (cache.max_bytes). Streams reserve bytes before keeping a segment and
// release them when it leaves their window; a segment that does not fit is
// not kept, so memory stays bounded however many streams share it.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	m     *metrics
}

func newBudget(limit int64, m *metrics) *budget {
	m.cacheLimit.Set(float64(limit))
	return &budget{limit: limit, m: m}
}

var _ playlist.Memory = (*budget)(nil)

// Reserve takes n bytes from the budget, reporting false when they do not
// fit. Segment downloads reserve as they read (playlist.FetcherConfig.Memory),
// so bytes in flight count as well as bytes kept.
func (b *budget) Reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	b.m.cacheBytes.Set(float64(b.used))
	return true
}

// Release returns n bytes to the budget.
func (b *budget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.m.cacheBytes.Set(float64(b.used))
}

// usedBytes reports the bytes held.
func (b *budget) usedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// free reports the bytes still available.
func (b *budget) free() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit - b.used
}
