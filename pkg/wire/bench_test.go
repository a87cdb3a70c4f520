package wire

import "testing"

// The hot paths of a seed: announcing a long VOD, writing request replies,
// and reading requests. Run with: go test -bench . -benchmem ./pkg/wire/

func vodIDs(n int) []int64 {
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		if i%256 != 255 { // keep within the per-block limit
			ids = append(ids, int64(i))
		}
	}
	return ids
}

func BenchmarkEncodeAnnouncement3600(b *testing.B) {
	c := Command{Type: SegmentsAnnouncement, Loaded: vodIDs(3600), Loading: []int64{3600, 3601}}
	payload, _ := AppendPayload(nil, c)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendPayload(buf[:0], c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSegmentData(b *testing.B) {
	c := Command{Type: SegmentData, SegmentID: 1_700_000_000, RequestID: 999, Size: 1_500_000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeCommand(c, DefaultMaxMessageSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	frames, _ := EncodeCommand(Command{Type: SegmentRequest, SegmentID: 1_700_000_000, RequestID: 999, BytesFrom: 65535}, 0)
	b.SetBytes(int64(len(frames[0])))
	b.ReportAllocs()
	var j Joiner
	for b.Loop() {
		p, err := j.Push(frames[0])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodePayload(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAnnouncement3600(b *testing.B) {
	frames, _ := EncodeCommand(Command{Type: SegmentsAnnouncement, Loaded: vodIDs(3600)}, 0)
	b.SetBytes(int64(len(frames[0])))
	b.ReportAllocs()
	var j Joiner
	for b.Loop() {
		p, err := j.Push(frames[0])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodePayload(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkSegment(b *testing.B) {
	data := make([]byte, 2<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := data; len(rest) > 0; {
			rest = rest[NextChunkLen(rest, DefaultMaxMessageSize):]
		}
	}
}
