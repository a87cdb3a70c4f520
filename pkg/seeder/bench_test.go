package seeder

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// BenchmarkServeSegment measures the send path end to end: N pion peers on
// loopback, each a browser stand-in connected through a tracker, download
// the same cached 2 MB segment at once, per iteration. MB/s is the total
// delivered; allocs/op includes both ends (the test peers run in-process).
//
//	go test -run XXX -bench ServeSegment -benchmem ./pkg/seeder/
func BenchmarkServeSegment(b *testing.B) {
	const size = 2 << 20
	for _, peers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			h := newHarnessWith(b, playlisttest.MediaOptions{Segments: 2, SegmentSize: size}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			conns := make([]*browserConn, peers)
			for i := range conns {
				tb := newTestBrowser(b, h.tracker.URL, h.infoHash(wire.Gen23), true)
				tb.run(ctx)
				conns[i] = tb.conn(ctx)
			}
			for _, c := range conns {
				waitAnnouncement(b, c, []int64{0, 1})
			}
			b.SetBytes(int64(peers * size))
			b.ReportAllocs()
			b.ResetTimer()
			req := int64(0)
			for b.Loop() {
				req++
				var wg sync.WaitGroup
				errs := make(chan error, peers)
				for _, c := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got, err := c.download(0, req%1000, 0)
						if err == nil && len(got) != size {
							err = fmt.Errorf("got %d bytes", len(got))
						}
						errs <- err
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
