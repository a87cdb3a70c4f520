package playlist

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
)

// Format is a manifest format, detected from the manifest body.
type Format string

// Manifest formats.
const (
	// FormatHLS is an HLS master or media playlist.
	FormatHLS Format = "hls"
	// FormatDASH is a DASH MPD.
	FormatDASH Format = "dash"
)

// Bounds on what an MPD may make this package allocate. Real MPDs stay far
// below them; MaxSegments bounds the segments of one variant snapshot.
const (
	maxPeriods         = 256
	maxRepresentations = 1024 // over all periods
	maxBaseURLs        = 16   // resolved URL combinations per level
	maxTimelineS       = MaxSegments
)

// utf8BOM is the byte order mark some origins put before the XML prolog.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// isMPD reports whether a manifest body is XML (an MPD) rather than HLS:
// after an optional BOM and white space it starts with '<'.
func isMPD(body []byte) bool {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, utf8BOM), " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

// DASH is a parsed MPD: the Manifest (its Variants) plus what is needed to
// list each variant's segments at a given time. Parse it with ParseMPD and
// list segments with Playlist.
type DASH struct {
	// Manifest holds the variants, in P2PML's order.
	Manifest *Manifest
	// Dynamic reports MPD@type="dynamic" (live).
	Dynamic bool
	// AvailabilityStartTime is MPD@availabilityStartTime (zero if absent).
	AvailabilityStartTime time.Time
	// TimeShiftBufferDepth is MPD@timeShiftBufferDepth; 0 means unbounded.
	TimeShiftBufferDepth time.Duration
	// MinimumUpdatePeriod is MPD@minimumUpdatePeriod; 0 means the MPD is not
	// reloaded.
	MinimumUpdatePeriod time.Duration
	// Location is the first MPD Location resolved against the MPD URL, the
	// URL to reload the MPD from; empty if absent.
	Location string
	// UTCTiming lists the MPD's UTCTiming elements in document order.
	UTCTiming []UTCTiming

	url     string // response URL
	periods []*dashPeriod
}

// UTCTiming is one MPD UTCTiming element: a clock source.
type UTCTiming struct {
	// Scheme is @schemeIdUri, e.g. "urn:mpeg:dash:utc:http-xsdate:2014".
	Scheme string
	// Value is @value: a URL, or the time itself for the direct scheme.
	Value string
}

// dashPeriod is one Period with its timing and representations.
type dashPeriod struct {
	id       string
	start    float64 // seconds
	duration float64 // seconds; +Inf when unknown
	reps     []*dashRep
}

// dashRep is one Representation with everything inherited resolved.
type dashRep struct {
	period   *dashPeriod
	typ      string // "video", "audio", "text", "image" or ""
	id       string
	typeIdx  int // position among the period's representations of typ
	shakaID  int // Shaka 2.x stream.id
	bw       float64
	codecs   string
	width    uint32
	height   uint32
	frame    float64 // NaN when absent
	lang     string
	channels int
	label    string
	hdr      string
	attrs    map[string]string // as written, for Variant.Attributes
	uris     []string          // resolved BaseURLs, at least one
	tmpl     *segTemplate
	list     *segList
	base     *segBase
	ato      float64 // availabilityTimeOffset, seconds
}

// ParseMPD parses an MPD fetched from finalURL (the URL after redirects)
// with github.com/Eyevinn/dash-mpd, and computes the variants as P2P Media
// Loader's Shaka integration registers them (see Variant). It does no I/O:
// SegmentBase representations need their index fetched (see Playlist).
//
// Errors wrap ErrMalformed (not an MPD, bad XML, no usable period or
// stream), ErrUnsupported (a feature this package does not model: xlink,
// SegmentTimeline patterns) or ErrTooLarge (more periods or
// representations than this package accepts).
func ParseMPD(body []byte, finalURL *url.URL) (d *DASH, err error) {
	if finalURL == nil {
		return nil, fmt.Errorf("%w: no manifest url", ErrMalformed)
	}
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%w: mpd parser panic: %v", ErrMalformed, r)
		}
	}()
	body = bytes.TrimPrefix(body, utf8BOM)
	if err := checkXML(body); err != nil {
		return nil, err
	}
	m, err := mpd.MPDFromBytes(canonicalXML(body))
	if err != nil {
		return nil, fmt.Errorf("%w: mpd: %w", ErrMalformed, err)
	}
	base := responseURL(finalURL)
	d = &DASH{
		Manifest: &Manifest{URL: base, SwarmBase: swarmBase(finalURL), Format: FormatDASH},
		Dynamic:  m.GetType() == "dynamic",
		url:      base,
	}
	if m.MinimumUpdatePeriod != nil {
		d.MinimumUpdatePeriod = time.Duration(*m.MinimumUpdatePeriod)
	}
	if m.TimeShiftBufferDepth != nil {
		d.TimeShiftBufferDepth = time.Duration(*m.TimeShiftBufferDepth)
	}
	if m.AvailabilityStartTime != "" {
		t, ok := parseXSDateTime(string(m.AvailabilityStartTime))
		if !ok {
			return nil, fmt.Errorf("%w: bad availabilityStartTime %q", ErrMalformed, m.AvailabilityStartTime)
		}
		d.AvailabilityStartTime = t
	}
	if d.Dynamic && d.AvailabilityStartTime.IsZero() {
		return nil, fmt.Errorf("%w: dynamic mpd without availabilityStartTime", ErrMalformed)
	}
	if len(m.Location) > 0 && strings.TrimSpace(m.Location[0].Value) != "" {
		d.Location = resolveURL(base, strings.TrimSpace(m.Location[0].Value))
	}
	for _, u := range m.UTCTimings {
		if u != nil {
			d.UTCTiming = append(d.UTCTiming, UTCTiming{Scheme: string(u.SchemeIdUri), Value: u.Value})
		}
	}
	if len(m.Periods) > maxPeriods {
		return nil, fmt.Errorf("%w: %d periods > %d", ErrTooLarge, len(m.Periods), maxPeriods)
	}
	mpdURIs := resolveAll([]string{base}, m.BaseURL)
	var mpdDuration float64 = math.Inf(1)
	if m.MediaPresentationDuration != nil {
		mpdDuration = m.MediaPresentationDuration.Seconds()
	}
	if err := d.parsePeriods(m, mpdURIs, mpdDuration); err != nil {
		return nil, err
	}
	if err := d.buildVariants(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkXML requires a well-formed XML document whose only content outside
// the root element is markup and white space, checked with the standard
// library's decoder before dash-mpd sees it: dash-mpd's own fork of
// encoding/xml loops forever on some input that breaks these rules (found
// by FuzzParseMPD: a truncated attribute ending in NUL, text such as
// "?xml ...?>" before the root element).
func checkXML(body []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if roots != 1 {
				return fmt.Errorf("%w: xml: %d root elements", ErrMalformed, roots)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: xml: %w", ErrMalformed, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok)) > 0 {
				return fmt.Errorf("%w: xml: text outside the root element", ErrMalformed)
			}
		}
	}
}

// canonicalXML rewrites a document checkXML accepted as elements,
// attributes (the first of duplicates) and text only, escaped by the
// standard library, so that dash-mpd's decoder never sees processing
// instructions, comments, directives or unusual spellings it may loop on
// (FuzzParseMPD found "<?l?>" with duplicate attributes).
func canonicalXML(body []byte) []byte {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var out bytes.Buffer
	out.Grow(len(body))
	name := func(n xml.Name) string {
		if n.Space != "" {
			return n.Space + ":" + n.Local
		}
		return n.Local
	}
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return out.Bytes()
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			out.WriteString("<" + name(tok.Name))
			seen := map[xml.Name]bool{}
			for _, a := range tok.Attr {
				if seen[a.Name] {
					continue
				}
				seen[a.Name] = true
				out.WriteString(" " + name(a.Name) + `="`)
				_ = xml.EscapeText(&out, []byte(a.Value))
				out.WriteString(`"`)
			}
			out.WriteString(">")
		case xml.EndElement:
			out.WriteString("</" + name(tok.Name) + ">")
		case xml.CharData:
			_ = xml.EscapeText(&out, tok)
		}
	}
}

// parsePeriods computes period timing (Shaka dash_parser.js parsePeriods_)
// and the representations of every period.
func (d *DASH) parsePeriods(m *mpd.MPD, mpdURIs []string, mpdDuration float64) error {
	shakaID := 1 // Shaka 2.x DashParser.globalId_
	nReps := 0
	prevEnd := 0.0
	for i, p := range m.Periods {
		if p == nil {
			continue
		}
		if p.XlinkHref != "" {
			return fmt.Errorf("%w: xlink period", ErrUnsupported)
		}
		start := prevEnd
		if p.Start != nil {
			start = p.Start.Seconds()
		}
		dur := math.Inf(1)
		switch {
		case p.Duration != nil:
			dur = p.Duration.Seconds()
		case i+1 < len(m.Periods) && m.Periods[i+1] != nil && m.Periods[i+1].Start != nil:
			dur = m.Periods[i+1].Start.Seconds() - start
		case i+1 == len(m.Periods) && !math.IsInf(mpdDuration, 1):
			dur = mpdDuration - start
		}
		if math.IsNaN(start) || start < 0 || math.IsInf(start, 0) || math.IsNaN(dur) || dur <= 0 && !math.IsInf(dur, 1) {
			if i+1 < len(m.Periods) || dur < 0 {
				return fmt.Errorf("%w: period %d: bad start %v or duration %v", ErrMalformed, i, start, dur)
			}
		}
		prevEnd = start + dur
		dp := &dashPeriod{id: p.Id, start: start, duration: dur}
		pURIs := resolveAll(mpdURIs, p.BaseURLs)
		counts := map[string]int{}
		nAudio, nVideo := 0, 0
		for _, as := range p.AdaptationSets {
			if as == nil {
				continue
			}
			if as.XlinkHref != "" {
				return fmt.Errorf("%w: xlink adaptation set", ErrUnsupported)
			}
			asURIs := resolveAll(pURIs, as.BaseURLs)
			for _, r := range as.Representations {
				if r == nil {
					continue
				}
				nReps++
				if nReps > maxRepresentations {
					return fmt.Errorf("%w: more than %d representations", ErrTooLarge, maxRepresentations)
				}
				rep, err := d.newRep(dp, p, as, r, resolveAll(asURIs, r.BaseURLs))
				if err != nil {
					return fmt.Errorf("period %d representation %q: %w", i, r.Id, err)
				}
				rep.shakaID = shakaID
				shakaID++
				rep.typeIdx = counts[rep.typ]
				counts[rep.typ]++
				dp.reps = append(dp.reps, rep)
			}
			// Shaka 2.x parseAdaptationSet_: "id: adaptationSet.id ||
			// ('__fake__' + this.globalId_++)", after its representations.
			if as.Id == nil {
				shakaID++
			}
		}
		nAudio, nVideo = counts["audio"], counts["video"]
		// Shaka 2.x createVariants_ gives each variant of the period an id:
		// every audio x video pair, or each stream when one kind is missing.
		switch {
		case nAudio > 0 && nVideo > 0:
			shakaID += nAudio * nVideo
		default:
			shakaID += nAudio + nVideo
		}
		d.periods = append(d.periods, dp)
	}
	if len(d.periods) == 0 {
		return fmt.Errorf("%w: no period", ErrMalformed)
	}
	return nil
}

// newRep resolves one Representation's inherited attributes.
func (d *DASH) newRep(dp *dashPeriod, p *mpd.Period, as *mpd.AdaptationSetType, r *mpd.RepresentationType, uris []string) (*dashRep, error) {
	rep := &dashRep{period: dp, id: r.Id, bw: float64(r.Bandwidth), uris: uris, frame: math.NaN()}
	rep.attrs = map[string]string{"id": r.Id, "bandwidth": strconv.FormatUint(uint64(r.Bandwidth), 10),
		"codecs": cmpOr(r.Codecs, as.Codecs), "frameRate": string(cmpOr(r.FrameRate, as.FrameRate)), "lang": as.Lang}
	if w := cmpOr(r.Width, as.Width); w > 0 {
		rep.attrs["width"] = strconv.FormatUint(uint64(w), 10)
	}
	if h := cmpOr(r.Height, as.Height); h > 0 {
		rep.attrs["height"] = strconv.FormatUint(uint64(h), 10)
	}
	if ch := mpegChannels(r.AudioChannelConfigurations); ch != "" {
		rep.attrs["channels"] = ch
	} else if ch := mpegChannels(as.AudioChannelConfigurations); ch != "" {
		rep.attrs["channels"] = ch
	}
	rep.codecs = cmpOr(r.Codecs, as.Codecs)
	rep.typ = contentType(string(as.ContentType), cmpOr(r.MimeType, as.MimeType), rep.codecs)
	rep.width, rep.height = cmpOr(r.Width, as.Width), cmpOr(r.Height, as.Height)
	if f, ok := evalDivision(string(r.FrameRate)); ok && f != 0 {
		rep.frame = f
	} else if f, ok := evalDivision(string(as.FrameRate)); ok && f != 0 {
		rep.frame = f
	}
	rep.lang = as.Lang
	rep.channels = audioChannels(r.AudioChannelConfigurations)
	if rep.channels == 0 {
		rep.channels = audioChannels(as.AudioChannelConfigurations)
	}
	if len(as.Labels) > 0 && as.Labels[0] != nil && as.Labels[0].Value != "" {
		rep.label = as.Labels[0].Value
	}
	for _, props := range [][]*mpd.DescriptorType{as.EssentialProperties, as.SupplementalProperties} {
		for _, prop := range props {
			if prop != nil && prop.SchemeIdUri == "urn:mpeg:mpegB:cicp:TransferCharacteristics" {
				rep.hdr = videoRangeFromCICP(jsParseInt(prop.Value, 10))
			}
		}
	}
	var err error
	// Shaka parseRepresentation_ checks SegmentBase, then SegmentList, then
	// SegmentTemplate, each inherited from the Period and AdaptationSet.
	switch {
	case r.SegmentBase != nil || as.SegmentBase != nil || p.SegmentBase != nil:
		rep.base, err = newSegBase(r.SegmentBase, as.SegmentBase, p.SegmentBase)
	case r.SegmentList != nil || as.SegmentList != nil || p.SegmentList != nil:
		rep.list, err = newSegList(r.SegmentList, as.SegmentList, p.SegmentList)
	case r.SegmentTemplate != nil || as.SegmentTemplate != nil || p.SegmentTemplate != nil:
		rep.tmpl, err = newSegTemplate(r.SegmentTemplate, as.SegmentTemplate, p.SegmentTemplate)
		if err == nil {
			rep.ato = rep.tmpl.ato
		}
	default:
		// A single-segment representation: the BaseURL is the segment
		// (Shaka treats it as a SegmentList of one URL spanning the period).
		rep.list = &segList{urls: []segURL{{}}, timescale: 1}
	}
	return rep, err
}

// cmpOr returns the first of a, b that is not the zero value.
func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// contentType is Shaka's stream type: @contentType, else the mimeType's
// major type (application/mp4 with a text codec is text).
func contentType(ct, mime, codecs string) string {
	if ct != "" {
		return ct
	}
	major, _, _ := strings.Cut(mime, "/")
	if major == "application" {
		c := strings.ToLower(codecs)
		if strings.HasPrefix(c, "stpp") || strings.HasPrefix(c, "wvtt") {
			return "text"
		}
	}
	return major
}

// evalDivision is Shaka TXml.evalDivision: "a/b" or a JavaScript Number.
func evalDivision(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if a, b, ok := strings.Cut(s, "/"); ok && isDecimal(a) && isDecimal(b) {
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		v := x / y
		return v, !math.IsNaN(v)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// audioChannels is Shaka dash_parser.js parseAudioChannels_: the channel
// count of the first AudioChannelConfiguration it understands, else 0.
func audioChannels(cfgs []*mpd.DescriptorType) int {
	for _, c := range cfgs {
		if c == nil || c.SchemeIdUri == "" || c.Value == "" {
			continue
		}
		v := c.Value
		switch c.SchemeIdUri {
		case "urn:mpeg:dash:outputChannelPositionList:2012":
			return len(strings.Fields(v))
		case "urn:mpeg:dash:23003:3:audio_channel_configuration:2011", "urn:dts:dash:audio_channel_configuration:2012":
			if n := jsParseInt(v, 10); jsTruthy(n) && n > 0 && n < 1<<31 {
				return int(n)
			}
		case "tag:dolby.com,2015:dash:audio_channel_configuration:2015":
			if n := dolbyChannels(v, []int{2, 1, 2, 2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 2, 1, 1, 2, 2}); n > 0 {
				return n
			}
		case "tag:dolby.com,2014:dash:audio_channel_configuration:2011", "urn:dolby:dash:audio_channel_configuration:2011":
			// [1,1,1,1,1,2,2,1,1,2,2,2,1,2,1,1].reverse()
			if n := dolbyChannels(v, []int{1, 1, 2, 1, 2, 2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 1}); n > 0 {
				return n
			}
		case "urn:mpeg:mpegB:cicp:ChannelConfiguration":
			table := []int{0, 1, 2, 3, 4, 5, 6, 8, 2, 3, 4, 7, 8, 24, 8, 12, 10, 12, 14, 12, 14}
			if n := jsParseInt(v, 10); jsTruthy(n) && n > 0 && n < float64(len(table)) {
				return table[int(n)]
			}
		}
	}
	return 0
}

// dolbyChannels sums the channel counts of the bits set in a hex mask
// (JavaScript's 32-bit "&" on parseInt(value, 16)).
func dolbyChannels(v string, mapping []int) int {
	h := jsParseInt(v, 16)
	if !jsTruthy(h) || math.IsInf(h, 0) {
		return 0
	}
	bits := uint32(int64(math.Mod(h, 1<<32)))
	n := 0
	for i, c := range mapping {
		if bits&(1<<i) != 0 {
			n += c
		}
	}
	return n
}

// videoRangeFromCICP is Shaka's getVideoRangeFromTransferCharacteristicCICP.
func videoRangeFromCICP(v float64) string {
	switch v {
	case 1, 6, 13, 14, 15:
		return "SDR"
	case 16:
		return "PQ"
	case 18:
		return "HLG"
	}
	return ""
}

// resolveAll is Shaka ManifestParserUtils.resolveUris: every base against
// every BaseURL of the level, or the bases unchanged when the level has none.
func resolveAll(bases []string, level []*mpd.BaseURLType) []string {
	var rels []string
	for _, b := range level {
		if b != nil {
			rels = append(rels, strings.TrimSpace(string(b.Value)))
		}
	}
	if len(rels) == 0 {
		return bases
	}
	out := make([]string, 0, min(len(bases)*len(rels), maxBaseURLs))
	for _, b := range bases {
		for _, r := range rels {
			if len(out) == maxBaseURLs {
				return out
			}
			out = append(out, resolveDashURL(b, r))
		}
	}
	return out
}

// resolveDashURL resolves a DASH URL reference. URIs with too many ".."
// are kept unresolved rather than normalised at great cost.
func resolveDashURL(base, rel string) string {
	if checkURI(rel) != nil || checkURI(base) != nil {
		return base
	}
	return resolveURL(base, rel)
}

// parseXSDateTime parses an xs:dateTime as MPDs write it; a missing zone
// means UTC (as Shaka reads it).
func parseXSDateTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// audioCodecPrefixes are the codecs P2PML 2.3's Shaka integration strips
// from a main stream's codecs.
var audioCodecPrefixes = []string{"mp4a", "ac-3", "ec-3", "ec+3", "opus", "vorb", "flac"}

// videoCodecs drops the audio codecs from a codecs list.
func videoCodecs(codecs string) string {
	var keep []string
	for _, c := range strings.Split(codecs, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		audio := false
		for _, p := range audioCodecPrefixes {
			if strings.HasPrefix(strings.ToLower(c), p) {
				audio = true
			}
		}
		if !audio {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}

// buildVariants makes one Variant per video and per audio representation of
// the first period, in Shaka's variant order (see Variant).
func (d *DASH) buildVariants() error {
	first := d.periods[0]
	var videos, audios []*dashRep
	for _, r := range first.reps {
		switch r.typ {
		case "video":
			videos = append(videos, r)
		case "audio":
			audios = append(audios, r)
		}
	}
	if len(videos) == 0 && len(audios) == 0 {
		return fmt.Errorf("%w: no video or audio representation in the first period", ErrMalformed)
	}
	firstAudioBW := 0.0
	if len(audios) > 0 {
		firstAudioBW = audios[0].bw
	}
	for i, r := range videos {
		d.Manifest.Variants = append(d.Manifest.Variants, Variant{
			URL: d.url, Type: Main, Ordinal: i, StreamInf: -1,
			ContentType: "video", RepresentationID: r.id, ShakaStreamID: r.shakaID, Attributes: r.attrs,
			Rendition: r.mainRendition(r.bw + firstAudioBW),
		})
	}
	for i, r := range audios {
		v := Variant{
			URL: d.url, Type: Secondary, Ordinal: i, StreamInf: -1,
			ContentType: "audio", RepresentationID: r.id, ShakaStreamID: r.shakaID, Attributes: r.attrs,
		}
		if len(videos) == 0 {
			// An audio-only variant: P2PML makes it the main stream and
			// passes only the variant bandwidth.
			v.Type, v.Rendition = Main, Rendition{Bitrate: r.bw}
		} else {
			v.Rendition = Rendition{Codecs: r.codecs, Language: r.lang, Name: cmpOr(r.label, r.id)}
			if r.channels > 0 {
				v.Rendition.Channels = strconv.Itoa(r.channels)
			}
		}
		d.Manifest.Variants = append(d.Manifest.Variants, v)
	}
	return nil
}

// mainRendition is what P2PML 2.3's Shaka integration passes for a video
// stream: the variant bandwidth, the video codecs, size, frame rate, HDR.
func (r *dashRep) mainRendition(bw float64) Rendition {
	rd := Rendition{Bitrate: bw, Codecs: videoCodecs(r.codecs), VideoRange: r.hdr}
	if r.width > 0 || r.height > 0 {
		rd.Width, rd.Height, rd.HasResolution = int(r.width), int(r.height), true
	}
	if !math.IsNaN(r.frame) {
		rd.FrameRate = strconv.FormatFloat(r.frame, 'f', -1, 64)
	}
	return rd
}

// repFor finds the representation of period p that plays variant v: the one
// with the same type and Representation@id, else the one at the same
// position among the period's representations of that type.
func (p *dashPeriod) repFor(v Variant, typ string, ordinal int) *dashRep {
	if v.RepresentationID != "" {
		for _, r := range p.reps {
			if r.typ == typ && r.id == v.RepresentationID {
				return r
			}
		}
	}
	for _, r := range p.reps {
		if r.typ == typ && r.typeIdx == ordinal {
			return r
		}
	}
	return nil
}

// mpegChannels is the value of the first AudioChannelConfiguration with the
// MPEG scheme, as P2P Media Loader 5.x reads it for stream identity.
func mpegChannels(cfgs []*mpd.DescriptorType) string {
	for _, c := range cfgs {
		if c != nil && c.SchemeIdUri == "urn:mpeg:dash:23003:3:audio_channel_configuration:2011" {
			return c.Value
		}
	}
	return ""
}
