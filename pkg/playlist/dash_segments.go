package playlist

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
)

// maxUnscaled bounds S@t, S@d, @duration, @presentationTimeOffset and
// segment numbers: above 2^53 JavaScript numbers (which Shaka uses) lose
// integer precision, so ids could not be computed as a browser does.
const maxUnscaled = maxSafeInteger

// segTemplate is a SegmentTemplate with every attribute inherited
// (Shaka MpdUtils.inheritAttribute: Representation, AdaptationSet, Period).
type segTemplate struct {
	media       string
	timescale   int64
	duration    int64 // 0 when absent
	startNumber int64
	endNumber   int64 // 0 when absent
	pto         int64
	timeline    []*mpd.S // nil when absent
	ato         float64
}

// segList is a SegmentList with every attribute inherited.
type segList struct {
	urls        []segURL
	timescale   int64
	duration    int64
	startNumber int64
	pto         int64
	timeline    []*mpd.S
}

type segURL struct {
	media string
	rng   *ByteRange
}

// segBase is a SegmentBase with every attribute inherited.
type segBase struct {
	index     ByteRange
	timescale int64
	pto       int64
}

// inherit returns the first non-nil of the values picked from each level.
func inherit[L any, T any](levels []*L, pick func(*L) *T) *T {
	for _, l := range levels {
		if l == nil {
			continue
		}
		if v := pick(l); v != nil {
			return v
		}
	}
	return nil
}

func u32(p *uint32) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func u64(p *uint64) (*int64, error) {
	if p == nil {
		return nil, nil
	}
	if *p > maxUnscaled {
		return nil, fmt.Errorf("%w: value %d above 2^53", ErrUnsupported, *p)
	}
	v := int64(*p)
	return &v, nil
}

func deref(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

func newSegTemplate(levels ...*mpd.SegmentTemplateType) (*segTemplate, error) {
	t := &segTemplate{}
	for _, l := range levels {
		if l != nil && t.media == "" {
			t.media = l.Media
		}
		if l != nil && t.ato == 0 {
			t.ato = float64(l.AvailabilityTimeOffset)
		}
	}
	mb := func(l *mpd.SegmentTemplateType) *mpd.MultipleSegmentBaseType { return &l.MultipleSegmentBaseType }
	mbs := make([]*mpd.MultipleSegmentBaseType, 0, len(levels))
	for _, l := range levels {
		if l != nil {
			mbs = append(mbs, mb(l))
		}
	}
	if err := inheritMultiple(mbs, &t.timescale, &t.duration, &t.startNumber, &t.pto, &t.timeline); err != nil {
		return nil, err
	}
	if e := inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *uint32 { return m.EndNumber }); e != nil {
		t.endNumber = int64(*e)
	}
	if t.media == "" {
		return nil, fmt.Errorf("%w: SegmentTemplate without @media", ErrMalformed)
	}
	if t.duration == 0 && t.timeline == nil {
		return nil, fmt.Errorf("%w: SegmentTemplate without @duration or SegmentTimeline", ErrMalformed)
	}
	if math.IsNaN(t.ato) || math.IsInf(t.ato, 0) || t.ato < 0 {
		t.ato = 0
	}
	return t, nil
}

// inheritMultiple resolves the MultipleSegmentBase attributes Shaka
// MpdUtils.parseSegmentInfo reads: timescale (positive, default 1),
// duration, startNumber (default 1), presentationTimeOffset and the
// SegmentTimeline child.
func inheritMultiple(mbs []*mpd.MultipleSegmentBaseType, timescale, duration, startNumber, pto *int64, timeline *[]*mpd.S) error {
	*timescale = deref(u32(inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *uint32 { return m.Timescale })), 1)
	if *timescale <= 0 {
		*timescale = 1
	}
	*duration = deref(u32(inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *uint32 { return m.Duration })), 0)
	*startNumber = deref(u32(inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *uint32 { return m.StartNumber })), 1)
	p, err := u64(inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *uint64 { return m.PresentationTimeOffset }))
	if err != nil {
		return err
	}
	*pto = deref(p, 0)
	if tl := inherit(mbs, func(m *mpd.MultipleSegmentBaseType) *mpd.SegmentTimelineType { return m.SegmentTimeline }); tl != nil {
		if len(tl.Pattern) > 0 {
			return fmt.Errorf("%w: SegmentTimeline Pattern", ErrUnsupported)
		}
		if len(tl.S) > maxTimelineS {
			return fmt.Errorf("%w: %d S elements > %d", ErrTooLarge, len(tl.S), maxTimelineS)
		}
		*timeline = tl.S
		if *timeline == nil {
			*timeline = []*mpd.S{}
		}
	}
	return nil
}

func newSegList(levels ...*mpd.SegmentListType) (*segList, error) {
	l := &segList{}
	var mbs []*mpd.MultipleSegmentBaseType
	for _, x := range levels {
		if x == nil {
			continue
		}
		if x.XlinkHref != "" {
			return nil, fmt.Errorf("%w: xlink SegmentList", ErrUnsupported)
		}
		mbs = append(mbs, &x.MultipleSegmentBaseType)
		if l.urls == nil && len(x.SegmentURL) > 0 {
			if len(x.SegmentURL) > MaxSegments {
				return nil, fmt.Errorf("%w: more than %d SegmentURLs", ErrTooLarge, MaxSegments)
			}
			for _, su := range x.SegmentURL {
				if su == nil {
					continue
				}
				s := segURL{media: strings.TrimSpace(string(su.Media))}
				if r, ok := parseShakaRange(string(su.MediaRange)); ok {
					s.rng = &r
				}
				l.urls = append(l.urls, s)
			}
		}
	}
	if err := inheritMultiple(mbs, &l.timescale, &l.duration, &l.startNumber, &l.pto, &l.timeline); err != nil {
		return nil, err
	}
	if l.startNumber == 0 {
		l.startNumber = 1 // Shaka: "SegmentList@startNumber must be > 0"
	}
	return l, nil
}

func newSegBase(levels ...*mpd.SegmentBaseType) (*segBase, error) {
	b := &segBase{}
	b.timescale = deref(u32(inherit(levels, func(s *mpd.SegmentBaseType) *uint32 { return s.Timescale })), 1)
	if b.timescale <= 0 {
		b.timescale = 1
	}
	p, err := u64(inherit(levels, func(s *mpd.SegmentBaseType) *uint64 { return s.PresentationTimeOffset }))
	if err != nil {
		return nil, err
	}
	b.pto = deref(p, 0)
	// Shaka SegmentBase.computeIndexRange_: @indexRange, overridden by
	// RepresentationIndex@range.
	var idx string
	var repIdx *mpd.URLType
	for _, l := range levels {
		if l == nil {
			continue
		}
		if idx == "" {
			idx = l.IndexRange
		}
		if repIdx == nil {
			repIdx = l.RepresentationIndex
		}
	}
	r, ok := parseShakaRange(idx)
	if repIdx != nil {
		if rr, ok2 := parseShakaRange(repIdx.Range); ok2 {
			r, ok = rr, true
		}
		if repIdx.SourceURL != "" {
			return nil, fmt.Errorf("%w: RepresentationIndex@sourceURL", ErrUnsupported)
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: SegmentBase without @indexRange", ErrMalformed)
	}
	b.index = r
	return b, nil
}

// shakaRangeRE is Shaka TXml.parseRange's /([0-9]+)-([0-9]+)/.
var shakaRangeRE = regexp.MustCompile(`([0-9]+)-([0-9]+)`)

// parseShakaRange parses "start-end" (inclusive) as Shaka does; ranges
// that are empty, reversed or beyond 2^53 are rejected.
func parseShakaRange(s string) (ByteRange, bool) {
	m := shakaRangeRE.FindStringSubmatch(s)
	if m == nil {
		return ByteRange{}, false
	}
	a, err1 := strconv.ParseInt(m[1], 10, 64)
	b, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || a > b || b > maxSafeInteger {
		return ByteRange{}, false
	}
	return ByteRange{Start: a, End: b}, true
}

// timelineEntry is one item of Shaka MpdUtils.createTimeline.
type timelineEntry struct {
	start, end    float64 // seconds, relative to the period, PTO removed
	unscaledStart int64   // t - presentationTimeOffset
	position      int64   // segment number
}

// createTimeline is Shaka 4 MpdUtils.createTimeline, bounded by
// MaxSegments.
func createTimeline(ss []*mpd.S, timescale, pto int64, periodDuration float64, startNumber int64) ([]timelineEntry, error) {
	var tl []timelineEntry
	ts := float64(timescale)
	lastEnd := -pto
	for i, s := range ss {
		if s == nil {
			continue
		}
		if s.D == 0 {
			continue // "S" element must have a duration: ignored
		}
		if s.D > maxUnscaled || (s.T != nil && *s.T > maxUnscaled) {
			return nil, fmt.Errorf("%w: S@t or S@d above 2^53", ErrUnsupported)
		}
		d := int64(s.D)
		start := lastEnd
		if s.T != nil {
			start = int64(*s.T) - pto
		}
		repeat := int64(s.R)
		if repeat < 0 {
			var next *mpd.S
			for _, n := range ss[i+1:] {
				if n != nil && n.D != 0 {
					next = n
					break
				}
			}
			switch {
			case next != nil:
				if next.T == nil || *next.T > maxUnscaled {
					return tl, nil
				}
				// Shaka compares with the next @t before removing the
				// presentationTimeOffset from it.
				nextStart := int64(*next.T)
				if start >= nextStart {
					return tl, nil
				}
				repeat = int64(math.Ceil(float64(nextStart-start)/float64(d))) - 1
			case math.IsInf(periodDuration, 1):
				return tl, nil // Shaka ignores it
			case float64(start)/ts >= periodDuration:
				return tl, nil
			default:
				repeat = int64(math.Ceil((periodDuration*ts-float64(start))/float64(d))) - 1
			}
		}
		if repeat < 0 {
			repeat = 0
		}
		if int64(len(tl))+repeat+1 > MaxSegments {
			return nil, fmt.Errorf("%w: SegmentTimeline of more than %d segments", ErrTooLarge, MaxSegments)
		}
		if len(tl) > 0 && start != lastEnd {
			tl[len(tl)-1].end = float64(start) / ts
		}
		for range repeat + 1 {
			end := start + d
			if end > maxUnscaled {
				return nil, fmt.Errorf("%w: SegmentTimeline time above 2^53", ErrUnsupported)
			}
			tl = append(tl, timelineEntry{
				start: float64(start) / ts, end: float64(end) / ts,
				unscaledStart: start, position: int64(len(tl)) + startNumber,
			})
			start, lastEnd = end, end
		}
	}
	return tl, nil
}

// templateRE is Shaka MpdUtils.fillUriTemplate's identifier regex.
var templateRE = regexp.MustCompile(`\$(RepresentationID|Number|SubNumber|Bandwidth|Time)?(?:%0([0-9]+)([diouxX]))?\$`)

// fillTemplate is Shaka MpdUtils.fillUriTemplate for the values this
// package knows (no SubNumber).
func fillTemplate(tmpl, repID string, number int64, bandwidth float64, t int64) string {
	return templateRE.ReplaceAllStringFunc(tmpl, func(match string) string {
		m := templateRE.FindStringSubmatch(match)
		name, widthStr, format := m[1], m[2], m[3]
		if match == "$$" {
			return "$"
		}
		var value int64
		switch name {
		case "RepresentationID":
			return repID
		case "Number":
			value = number
		case "Bandwidth":
			value = int64(bandwidth)
		case "Time":
			value = t
		default:
			return match
		}
		var s string
		switch format {
		case "", "d", "i", "u":
			s = strconv.FormatInt(value, 10)
		case "o":
			s = strconv.FormatInt(value, 8)
		case "x":
			s = strconv.FormatInt(value, 16)
		case "X":
			s = strings.ToUpper(strconv.FormatInt(value, 16))
		}
		width, _ := strconv.Atoi(widthStr)
		if width > 64 {
			width = 64
		}
		if len(s) < width {
			s = strings.Repeat("0", width-len(s)) + s
		}
		return s
	})
}

// IndexLoader fetches byte range r of url: the sidx box of a SegmentBase
// representation. The Follower supplies one that uses its HTTP client and
// size limit.
type IndexLoader func(url string, r ByteRange) ([]byte, error)

// liveWindow is the part of a dynamic presentation a snapshot lists, in
// seconds since availabilityStartTime.
type liveWindow struct {
	dynamic bool
	now     float64 // now - availabilityStartTime
	tsbd    float64 // 0 = unbounded
	ast     time.Time
}

// available reports whether a segment ending at end (presentation seconds)
// is available and still inside the time-shift buffer.
func (w liveWindow) available(end, ato float64) bool {
	if !w.dynamic {
		return true
	}
	if end > w.now+ato {
		return false
	}
	return w.tsbd <= 0 || end > w.now-w.tsbd
}

// at converts a presentation time to wall-clock time.
func (w liveWindow) at(t float64) time.Time {
	return w.ast.Add(time.Duration(t * float64(time.Second)))
}

// Playlist lists variant v's segments as a MediaPlaylist: every segment of
// a static MPD, or the segments of a dynamic MPD that are available at now
// (their end, minus availabilityTimeOffset, has passed since
// availabilityStartTime) and still inside timeShiftBufferDepth. v is
// matched to each period's representations by Variant.RepresentationID,
// else by position, so a Variant from an earlier parse of the same stream
// works too. SegmentBase indexes are fetched with load.
//
// next is when a dynamic MPD's snapshot would next gain a segment without
// an MPD reload (zero when it never would, or for static MPDs).
//
// A static variant of more than MaxSegments segments is an error; a
// dynamic one keeps the newest MaxSegments.
func (d *DASH) Playlist(v Variant, now time.Time, load IndexLoader) (pl *MediaPlaylist, next time.Time, err error) {
	typ := v.ContentType
	if typ == "" {
		typ = "video"
	}
	w := liveWindow{dynamic: d.Dynamic, ast: d.AvailabilityStartTime}
	if d.Dynamic {
		w.now = now.Sub(d.AvailabilityStartTime).Seconds()
		w.tsbd = d.TimeShiftBufferDepth.Seconds()
	}
	pl = &MediaPlaylist{URL: d.url, Live: d.Dynamic}
	nextT := math.Inf(1)
	maxDur := 0.0
	for _, p := range d.periods {
		if d.Dynamic && p.start > w.now {
			nextT = math.Min(nextT, p.start)
			continue
		}
		rep := p.repFor(v, typ, v.Ordinal)
		if rep == nil {
			continue
		}
		segs, n, err := rep.segments(w, load)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("period %q representation %q: %w", p.id, rep.id, err)
		}
		nextT = math.Min(nextT, n)
		for _, s := range segs {
			maxDur = math.Max(maxDur, s.Duration)
		}
		pl.Segments = append(pl.Segments, segs...)
		if len(pl.Segments) > MaxSegments {
			if !d.Dynamic {
				return nil, time.Time{}, fmt.Errorf("%w: more than %d segments", ErrTooLarge, MaxSegments)
			}
			pl.Segments = pl.Segments[len(pl.Segments)-MaxSegments:]
		}
	}
	pl.TargetDuration = targetDuration(math.Ceil(maxDur))
	if len(pl.Segments) > 0 {
		pl.MediaSequence = pl.Segments[0].Sequence
	}
	if d.Dynamic && !math.IsInf(nextT, 1) {
		next = w.at(nextT)
	}
	return pl, next, nil
}

// segments lists one representation's segments in its period; next is the
// presentation time at which another one becomes available (+Inf if none).
func (r *dashRep) segments(w liveWindow, load IndexLoader) ([]Segment, float64, error) {
	switch {
	case r.tmpl != nil && r.tmpl.timeline != nil:
		return r.timelineSegments(w)
	case r.tmpl != nil:
		return r.numberSegments(w)
	case r.list != nil:
		return r.listSegments(w)
	case r.base != nil:
		return r.baseSegments(w, load)
	}
	return nil, math.Inf(1), fmt.Errorf("%w: no segment information", ErrUnsupported)
}

// newSegment fills in the fields every kind of segment shares. uris are the
// reference's URIs as Shaka resolves them.
func (r *dashRep) newSegment(uris []string, rng *ByteRange, start, end, periodTime float64, number int64) Segment {
	s := Segment{
		ID:            int64(math.Trunc(start / 0.5)),
		Sequence:      number,
		URL:           uris[0],
		Range:         rng,
		Duration:      end - start,
		Start:         start,
		PeriodStart:   r.period.start,
		PeriodTime:    periodTime,
		ShakaStreamID: r.shakaID,
	}
	key := uris[0]
	if len(uris) > 1 {
		key = uris[1]
	}
	if rng != nil {
		key += "|" + strconv.FormatInt(rng.Start, 10) + "-" + strconv.FormatInt(rng.End, 10)
	}
	s.Key = key
	return s
}

// mediaURIs resolves a media reference against every BaseURL.
func (r *dashRep) mediaURIs(media string) []string {
	out := make([]string, len(r.uris))
	for i, b := range r.uris {
		out[i] = resolveDashURL(b, media)
	}
	return out
}

func (r *dashRep) periodEnd() float64 { return r.period.start + r.period.duration }

// timelineSegments is Shaka 4's TimelineSegmentIndex for SegmentTemplate
// with SegmentTimeline.
func (r *dashRep) timelineSegments(w liveWindow) ([]Segment, float64, error) {
	t := r.tmpl
	tl, err := createTimeline(t.timeline, t.timescale, t.pto, r.period.duration, t.startNumber)
	if err != nil {
		return nil, 0, err
	}
	next := math.Inf(1)
	var out []Segment
	ps := r.period.start
	for i, e := range tl {
		start, end := e.start+ps, e.end+ps
		if i == len(tl)-1 && !math.IsInf(r.period.duration, 1) {
			end = math.Min(end, r.periodEnd())
		}
		if start >= r.periodEnd() {
			break
		}
		if !w.available(end, t.ato) {
			if end > w.now+t.ato {
				next = math.Min(next, end-t.ato)
			}
			continue
		}
		uris := r.mediaURIs(fillTemplate(t.media, r.id, e.position, r.bw, e.unscaledStart+t.pto))
		out = append(out, r.newSegment(uris, nil, start, end, e.start, e.position))
	}
	return out, next, nil
}

// numberSegments is Shaka 4 SegmentTemplate.createFromDuration_: segment
// k (0-based) starts at periodStart + k * (duration / timescale).
func (r *dashRep) numberSegments(w liveWindow) ([]Segment, float64, error) {
	t := r.tmpl
	segDur := float64(t.duration) / float64(t.timescale)
	ps, pd := r.period.start, r.period.duration
	first, last := int64(0), int64(-1)
	if !math.IsInf(pd, 1) {
		last = int64(math.Ceil(pd/segDur)) - 1
	} else if !w.dynamic {
		return nil, 0, fmt.Errorf("%w: SegmentTemplate@duration in a period of unknown duration", ErrMalformed)
	}
	if t.endNumber > 0 {
		last = t.endNumber - t.startNumber // Shaka: lastSegmentNumber || range[1]
	}
	next := math.Inf(1)
	if w.dynamic {
		// Fully available segments: (k+1) * segDur <= now + ato - ps.
		edge := int64(math.Floor((w.now+t.ato-ps)/segDur)) - 1
		if last < 0 || edge < last {
			if k := edge + 1; last < 0 || k <= last {
				next = ps + float64(k+1)*segDur - t.ato
			}
			last = edge
		}
		if w.tsbd > 0 {
			first = max(first, int64(math.Floor((w.now-w.tsbd-ps)/segDur)))
		}
		first = max(first, last-MaxSegments+1)
	}
	if last-first+1 > MaxSegments {
		return nil, 0, fmt.Errorf("%w: more than %d segments", ErrTooLarge, MaxSegments)
	}
	if last+t.startNumber > maxUnscaled || float64(last)*float64(t.duration) > maxUnscaled {
		return nil, 0, fmt.Errorf("%w: segment number above 2^53", ErrUnsupported)
	}
	var out []Segment
	for k := first; k <= last; k++ {
		periodTime := float64(k) * segDur
		start := periodTime + ps
		end := math.Min(start+segDur, r.periodEnd())
		if start >= end {
			break
		}
		number := t.startNumber + k
		uris := r.mediaURIs(fillTemplate(t.media, r.id, number, r.bw, k*t.duration))
		out = append(out, r.newSegment(uris, nil, start, end, periodTime, number))
	}
	return out, next, nil
}

// listSegments is Shaka 4 SegmentList.createSegmentReferences_.
func (r *dashRep) listSegments(w liveWindow) ([]Segment, float64, error) {
	l := r.list
	n := len(l.urls)
	var tl []timelineEntry
	if l.timeline != nil {
		var err error
		if tl, err = createTimeline(l.timeline, l.timescale, l.pto, r.period.duration, l.startNumber); err != nil {
			return nil, 0, err
		}
		n = min(n, len(tl))
	}
	segDur := 0.0
	if l.duration > 0 {
		segDur = float64(l.duration) / float64(l.timescale)
	}
	startTime := 0.0
	switch {
	case segDur > 0:
		startTime = segDur * float64(l.startNumber-1)
	case len(tl) > 0:
		startTime = tl[0].start
	}
	if segDur == 0 && tl == nil && (n != 1 || math.IsInf(r.period.duration, 1)) {
		return nil, 0, fmt.Errorf("%w: SegmentList without @duration or SegmentTimeline", ErrMalformed)
	}
	next := math.Inf(1)
	var out []Segment
	prevEnd := startTime
	for i := range n {
		start := prevEnd
		var end float64
		switch {
		case segDur > 0:
			end = start + segDur
		case tl != nil:
			end = tl[i].end
		default:
			end = start + r.period.duration
		}
		prevEnd = end
		ps, pe := r.period.start+start, r.period.start+end
		if !w.available(pe, 0) {
			if pe > w.now {
				next = math.Min(next, pe)
			}
			continue
		}
		uris := r.mediaURIs(l.urls[i].media)
		out = append(out, r.newSegment(uris, l.urls[i].rng, ps, pe, start, l.startNumber+int64(i)))
	}
	return out, next, nil
}

// baseSegments loads and parses the sidx of a SegmentBase representation
// (Shaka 4 SegmentBase + Mp4SegmentIndexParser).
func (r *dashRep) baseSegments(w liveWindow, load IndexLoader) ([]Segment, float64, error) {
	if load == nil {
		return nil, 0, fmt.Errorf("%w: SegmentBase needs an index loader", ErrUnsupported)
	}
	data, err := load(r.uris[0], r.base.index)
	if err != nil {
		return nil, 0, fmt.Errorf("load index: %w", err)
	}
	refs, err := parseSIDX(data, r.base.index.Start)
	if err != nil {
		return nil, 0, err
	}
	// timestampOffset = periodStart - presentationTimeOffset / timescale.
	offset := r.period.start - float64(r.base.pto)/float64(r.base.timescale)
	next := math.Inf(1)
	var out []Segment
	for i, ref := range refs {
		start, end := ref.start+offset, ref.end+offset
		if start >= r.periodEnd() {
			break
		}
		if !w.available(end, 0) {
			if end > w.now {
				next = math.Min(next, end)
			}
			continue
		}
		rng := ref.rng
		out = append(out, r.newSegment(r.uris, &rng, start, end, start-r.period.start, int64(i)))
	}
	return out, next, nil
}
