package wire

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// This file is the codec for the WebTorrent tracker protocol: one JSON object
// per WebSocket text frame, as spoken by the bittorrent-tracker 11.x client that
// every P2P Media Loader browser runs (lib/client/websocket-tracker.js) and by
// the trackers it talks to (bittorrent-tracker lib/server/parse-websocket.js and
// server.js, Novage/wt-tracker src/fast-tracker.ts). There is no published spec;
// those files are the reference.
//
// Decoding follows JSON.parse: UTF-8 text, duplicate members (last one wins),
// member names may be escaped, unknown members are skipped. A known member with
// a JSON null is treated as absent, any other wrong type is ErrMalformed.
// Numbers must have an integral value within ±2^53 (every tracker sends integer
// seconds and counts).
//
// Encoding is byte-exact with JSON.stringify of the objects the JavaScript code
// builds: the members of each message kind are written in the order the
// JavaScript code inserts them (see trackerFieldOrder), strings are escaped as
// JSON.stringify does (AppendJSONString), and absent fields are omitted.

// TrackerKind says what a TrackerMessage is, judged by the fields it carries
// (see TrackerMessage.Kind). It also picks the member order used by AppendJSON.
type TrackerKind uint8

// The kinds of tracker message.
const (
	// TrackerKindOther is anything not recognised below, such as an unknown action.
	TrackerKindOther TrackerKind = iota
	// TrackerKindAnnounce is a peer's announce: periodic, with offers, or with
	// event "started", "stopped" or "completed".
	TrackerKindAnnounce
	// TrackerKindAnswer carries an answer SDP: sent by the answering peer (with
	// to_peer_id) and relayed by the tracker to the offerer.
	TrackerKindAnswer
	// TrackerKindOffer is an offer the tracker relays from another peer.
	TrackerKindOffer
	// TrackerKindResponse is the tracker's reply to an announce: interval and
	// counts, or a failure reason, or a warning.
	TrackerKindResponse
	// TrackerKindScrape is a peer's scrape request.
	TrackerKindScrape
	// TrackerKindScrapeResponse is the tracker's reply to a scrape.
	TrackerKindScrapeResponse
)

// String returns the lowercase name of the kind, usable as a metric label.
func (k TrackerKind) String() string {
	switch k {
	case TrackerKindAnnounce:
		return "announce"
	case TrackerKindAnswer:
		return "answer"
	case TrackerKindOffer:
		return "offer"
	case TrackerKindResponse:
		return "response"
	case TrackerKindScrape:
		return "scrape"
	case TrackerKindScrapeResponse:
		return "scrape_response"
	default:
		return "other"
	}
}

// TrackerSDP is the {"type","sdp"} object of an offer or answer (the
// RTCSessionDescriptionInit that simple-peer emits). SDP is ordinary text.
type TrackerSDP struct {
	Type string // "offer" or "answer"
	SDP  string
}

// TrackerOffer is one element of an announce's "offers" array.
type TrackerOffer struct {
	Offer   TrackerSDP
	OfferID string // binary string, 20 random bytes in every known client
}

// ScrapeFile is one entry of a scrape response's "files" object.
type ScrapeFile struct {
	InfoHash                         string // the member name, a binary string
	Complete, Incomplete, Downloaded int64
}

// TrackerMessage is any message of the WebTorrent tracker protocol, in either
// direction. Fields that are empty (strings), nil (pointers, slices) are absent
// from the JSON. Binary-string fields hold raw bytes, one byte per JSON code
// point (see AppendJSONString); the other strings are UTF-8 text.
//
// Shapes, as JSON.stringify writes them (member order matters for byte equality
// with browsers; each is the order AppendJSON uses for that Kind):
//
//	announce  {"numwant":5,"uploaded":0,"downloaded":0,"event":"started","action":"announce",
//	           "info_hash":B,"peer_id":B,"offers":[{"offer":{"type":"offer","sdp":S},"offer_id":B},…]}
//	          (browser; "event" only on the first announce, "trackerid" after "peer_id" once the
//	          tracker sent "tracker id"; "stopped" has no offers)
//	answer    {"action":"announce","info_hash":B,"peer_id":B,"to_peer_id":B,
//	           "answer":{"type":"answer","sdp":S},"offer_id":B}
//	          (browser; wt-tracker relays it with "to_peer_id" removed, bittorrent-tracker
//	          rebuilds it as {action,answer,offer_id,peer_id,info_hash})
//	offer     {"action":"announce","info_hash":B,"offer_id":B,"peer_id":B,"offer":{"type":"offer","sdp":S}}
//	          (wt-tracker; bittorrent-tracker sends {action,offer,offer_id,peer_id,info_hash})
//	response  {"action":"announce","interval":20,"info_hash":B,"complete":0,"incomplete":2}
//	          (wt-tracker; bittorrent-tracker sends {complete,incomplete,action,interval,info_hash},
//	          and a bare {"failure reason":S} when it cannot parse a request)
//	scrape    {"action":"scrape","info_hash":B or [B,…]}
//	          → {"action":"scrape","files":{B:{"complete":N,"incomplete":N,"downloaded":N}},
//	             "flags":{"min_request_interval":N}}
type TrackerMessage struct {
	Action string // "announce" or "scrape"; empty only in bare failures

	// Announce request fields.
	NumWant    *int64
	Uploaded   *int64
	Downloaded *int64
	Left       *int64
	Event      string // "started", "stopped", "completed" or empty
	// InfoHash is the binary info_hash of every message except a scrape that
	// names several; then InfoHashes holds them (non-nil, InfoHash empty).
	InfoHash   string
	InfoHashes []string
	PeerID     string // binary; the sender's id, or the offerer's/answerer's in relayed messages
	ToPeerID   string // binary; the peer an answer is addressed to
	TrackerID  string // "trackerid": echo of the tracker's "tracker id"
	Offers     []TrackerOffer

	// Signalling fields.
	Offer   *TrackerSDP
	Answer  *TrackerSDP
	OfferID string // binary

	// Response fields.
	FailureReason     string // "failure reason"
	WarningMessage    string // "warning message"
	Interval          *int64 // seconds
	MinInterval       *int64 // "min interval", seconds
	ResponseTrackerID string // "tracker id"
	Complete          *int64
	Incomplete        *int64

	// Scrape response fields.
	Files              []ScrapeFile // "files", in member order
	MinRequestInterval *int64       // "flags":{"min_request_interval":N}
}

// Kind classifies the message by its fields: an answer or offer SDP decides
// first, then scrape-response and response fields, then the action.
func (m *TrackerMessage) Kind() TrackerKind {
	switch {
	case m.Answer != nil:
		return TrackerKindAnswer
	case m.Offer != nil:
		return TrackerKindOffer
	case m.Files != nil || m.MinRequestInterval != nil:
		return TrackerKindScrapeResponse
	case m.FailureReason != "" || m.WarningMessage != "" || m.Interval != nil || m.MinInterval != nil ||
		m.ResponseTrackerID != "" || m.Complete != nil || m.Incomplete != nil:
		return TrackerKindResponse
	case m.Action == "scrape":
		return TrackerKindScrape
	case m.Action == "announce":
		return TrackerKindAnnounce
	default:
		return TrackerKindOther
	}
}

// trackerField names one top-level member.
type trackerField uint8

const (
	tfAction trackerField = iota
	tfNumWant
	tfUploaded
	tfDownloaded
	tfLeft
	tfEvent
	tfInfoHash
	tfPeerID
	tfToPeerID
	tfTrackerID
	tfOffers
	tfOffer
	tfAnswer
	tfOfferID
	tfFailureReason
	tfWarningMessage
	tfInterval
	tfMinInterval
	tfResponseTrackerID
	tfComplete
	tfIncomplete
	tfFiles
	tfFlags
	numTrackerFields
)

// trackerFieldOrder is the member order per kind: first the order the
// JavaScript code builds the object in, then any other field that happens to be
// set, in field order, so that encoding never loses a field.
var trackerFieldOrder = [...][]trackerField{
	TrackerKindOther: trackerOrder(),
	// websocket-tracker.js announce(): Object.assign({}, opts, {action,
	// info_hash, peer_id}); opts is _defaultAnnounceOpts (numwant, uploaded,
	// downloaded, [left], [event]); then trackerid, then offers.
	TrackerKindAnnounce: trackerOrder(tfNumWant, tfUploaded, tfDownloaded, tfLeft, tfEvent, tfAction, tfInfoHash, tfPeerID,
		tfTrackerID, tfOffers),
	// websocket-tracker.js _onAnnounceResponse: {action, info_hash, peer_id,
	// to_peer_id, answer, offer_id}, then trackerid.
	TrackerKindAnswer: trackerOrder(tfAction, tfInfoHash, tfPeerID, tfToPeerID, tfAnswer, tfOfferID, tfTrackerID),
	// wt-tracker getSendOfferJson.
	TrackerKindOffer: trackerOrder(tfAction, tfInfoHash, tfOfferID, tfPeerID, tfOffer),
	// wt-tracker processAnnounce {action, interval, info_hash, complete,
	// incomplete}; bittorrent-tracker failures {action, "failure reason", info_hash}.
	TrackerKindResponse: trackerOrder(tfAction, tfFailureReason, tfWarningMessage, tfInterval, tfMinInterval,
		tfResponseTrackerID, tfInfoHash, tfComplete, tfIncomplete),
	TrackerKindScrape:         trackerOrder(tfAction, tfInfoHash),
	TrackerKindScrapeResponse: trackerOrder(tfAction, tfFiles, tfFlags),
}

func trackerOrder(first ...trackerField) []trackerField {
	var seen [numTrackerFields]bool
	out := make([]trackerField, 0, numTrackerFields)
	for _, f := range first {
		seen[f] = true
		out = append(out, f)
	}
	for f := range numTrackerFields {
		if !seen[f] {
			out = append(out, f)
		}
	}
	return out
}

// AppendJSON appends the message as JSON.stringify would write it (see the
// TrackerMessage doc for the member order) and returns the extended buffer.
func (m *TrackerMessage) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	first := true
	key := func(k string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	text := func(k, v string) {
		if v != "" {
			key(k)
			dst = AppendJSONString(dst, v, false)
		}
	}
	bin := func(k, v string) {
		if v != "" {
			key(k)
			dst = AppendJSONString(dst, v, true)
		}
	}
	num := func(k string, v *int64) {
		if v != nil {
			key(k)
			dst = strconv.AppendInt(dst, *v, 10)
		}
	}
	for _, f := range trackerFieldOrder[m.Kind()] {
		switch f {
		case tfAction:
			text("action", m.Action)
		case tfNumWant:
			num("numwant", m.NumWant)
		case tfUploaded:
			num("uploaded", m.Uploaded)
		case tfDownloaded:
			num("downloaded", m.Downloaded)
		case tfLeft:
			num("left", m.Left)
		case tfEvent:
			text("event", m.Event)
		case tfInfoHash:
			if m.InfoHashes != nil {
				key("info_hash")
				dst = append(dst, '[')
				for i, h := range m.InfoHashes {
					if i > 0 {
						dst = append(dst, ',')
					}
					dst = AppendJSONString(dst, h, true)
				}
				dst = append(dst, ']')
			} else {
				bin("info_hash", m.InfoHash)
			}
		case tfPeerID:
			bin("peer_id", m.PeerID)
		case tfToPeerID:
			bin("to_peer_id", m.ToPeerID)
		case tfTrackerID:
			text("trackerid", m.TrackerID)
		case tfOffers:
			if m.Offers != nil {
				key("offers")
				dst = append(dst, '[')
				for i := range m.Offers {
					if i > 0 {
						dst = append(dst, ',')
					}
					o := &m.Offers[i]
					dst = append(dst, `{"offer":`...)
					dst = appendTrackerSDP(dst, &o.Offer)
					if o.OfferID != "" {
						dst = append(dst, `,"offer_id":`...)
						dst = AppendJSONString(dst, o.OfferID, true)
					}
					dst = append(dst, '}')
				}
				dst = append(dst, ']')
			}
		case tfOffer:
			if m.Offer != nil {
				key("offer")
				dst = appendTrackerSDP(dst, m.Offer)
			}
		case tfAnswer:
			if m.Answer != nil {
				key("answer")
				dst = appendTrackerSDP(dst, m.Answer)
			}
		case tfOfferID:
			bin("offer_id", m.OfferID)
		case tfFailureReason:
			text("failure reason", m.FailureReason)
		case tfWarningMessage:
			text("warning message", m.WarningMessage)
		case tfInterval:
			num("interval", m.Interval)
		case tfMinInterval:
			num("min interval", m.MinInterval)
		case tfResponseTrackerID:
			text("tracker id", m.ResponseTrackerID)
		case tfComplete:
			num("complete", m.Complete)
		case tfIncomplete:
			num("incomplete", m.Incomplete)
		case tfFiles:
			if m.Files != nil {
				key("files")
				dst = append(dst, '{')
				for i := range m.Files {
					if i > 0 {
						dst = append(dst, ',')
					}
					f := &m.Files[i]
					dst = AppendJSONString(dst, f.InfoHash, true)
					dst = append(dst, `:{"complete":`...)
					dst = strconv.AppendInt(dst, f.Complete, 10)
					dst = append(dst, `,"incomplete":`...)
					dst = strconv.AppendInt(dst, f.Incomplete, 10)
					dst = append(dst, `,"downloaded":`...)
					dst = strconv.AppendInt(dst, f.Downloaded, 10)
					dst = append(dst, '}')
				}
				dst = append(dst, '}')
			}
		case tfFlags:
			if m.MinRequestInterval != nil {
				key("flags")
				dst = append(dst, `{"min_request_interval":`...)
				dst = strconv.AppendInt(dst, *m.MinRequestInterval, 10)
				dst = append(dst, '}')
			}
		}
	}
	return append(dst, '}')
}

func appendTrackerSDP(dst []byte, d *TrackerSDP) []byte {
	dst = append(dst, '{')
	if d.Type != "" {
		dst = append(dst, `"type":`...)
		dst = AppendJSONString(dst, d.Type, false)
	}
	if d.SDP != "" {
		if d.Type != "" {
			dst = append(dst, ',')
		}
		dst = append(dst, `"sdp":`...)
		dst = AppendJSONString(dst, d.SDP, false)
	}
	return append(dst, '}')
}

const trackerHexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string exactly as JavaScript's
// JSON.stringify writes it: only '"', '\\' and control characters below 0x20
// are escaped (\b \t \n \f \r, the rest as \u00xx in lowercase hex); every other
// code point, 0x7F and U+2028 included, is written raw as UTF-8.
//
// With binary set, s is a JS "binary string": each byte of s is one code point
// U+0000..U+00FF (how bittorrent-tracker carries info_hash, peer_id, offer_id
// and to_peer_id), so bytes 0x80..0xFF become two UTF-8 bytes. Otherwise s is
// UTF-8 text; bytes that are not valid UTF-8 are written as U+FFFD, so the
// output is always valid UTF-8, as a WebSocket text frame must be.
func AppendJSONString(dst []byte, s string, binary bool) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending raw output
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c >= utf8.RuneSelf && binary:
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		default: // control character
			dst = append(dst, '\\')
			switch c {
			case '\b':
				dst = append(dst, 'b')
			case '\t':
				dst = append(dst, 't')
			case '\n':
				dst = append(dst, 'n')
			case '\f':
				dst = append(dst, 'f')
			case '\r':
				dst = append(dst, 'r')
			default:
				dst = append(dst, 'u', '0', '0', trackerHexDigits[c>>4], trackerHexDigits[c&0xF])
			}
			i++
		}
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// maxTrackerDepth bounds the nesting of skipped unknown members.
const maxTrackerDepth = 64

// jsMaxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER.
const jsMaxSafeInteger = 1<<53 - 1

// DecodeTrackerMessage parses one tracker frame. It never panics; any input
// that JSON.parse would reject, a top level that is not an object, or a known
// member of the wrong type yields an error wrapping ErrMalformed.
func DecodeTrackerMessage(b []byte) (*TrackerMessage, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: tracker message: invalid utf-8", ErrMalformed)
	}
	d := &trackerScanner{b: b}
	m := &TrackerMessage{}
	d.space()
	if err := d.object(func(key, lit []byte) error { return d.field(m, key, lit) }); err != nil {
		return nil, fmt.Errorf("%w: tracker message: %w", ErrMalformed, err)
	}
	d.space()
	if d.i != len(d.b) {
		return nil, fmt.Errorf("%w: tracker message: data after the object at offset %d", ErrMalformed, d.i)
	}
	return m, nil
}

// field decodes the value of the member named key (literal lit) into m.
func (d *trackerScanner) field(m *TrackerMessage, key, lit []byte) error {
	var err error
	switch string(key) {
	case "action":
		m.Action, err = d.optString(false)
	case "numwant":
		m.NumWant, err = d.optIntPtr()
	case "uploaded":
		m.Uploaded, err = d.optIntPtr()
	case "downloaded":
		m.Downloaded, err = d.optIntPtr()
	case "left":
		m.Left, err = d.optIntPtr()
	case "event":
		m.Event, err = d.optString(false)
	case "info_hash":
		m.InfoHash, m.InfoHashes = "", nil
		if d.peek() == '[' {
			m.InfoHashes = []string{}
			err = d.array(func() error {
				h, err := d.string(true)
				m.InfoHashes = append(m.InfoHashes, h)
				return err
			})
		} else {
			m.InfoHash, err = d.optString(true)
		}
	case "peer_id":
		m.PeerID, err = d.optString(true)
	case "to_peer_id":
		m.ToPeerID, err = d.optString(true)
	case "trackerid":
		m.TrackerID, err = d.optString(false)
	case "offers":
		m.Offers = nil
		if d.null() {
			return nil
		}
		m.Offers = []TrackerOffer{}
		err = d.array(func() error {
			var o TrackerOffer
			err := d.object(func(key, _ []byte) error {
				var err error
				switch string(key) {
				case "offer":
					var sdp *TrackerSDP
					sdp, err = d.optSDP()
					o.Offer = TrackerSDP{}
					if sdp != nil {
						o.Offer = *sdp
					}
				case "offer_id":
					o.OfferID, err = d.optString(true)
				default:
					err = d.skip(1)
				}
				return err
			})
			m.Offers = append(m.Offers, o)
			return err
		})
	case "offer":
		m.Offer, err = d.optSDP()
	case "answer":
		m.Answer, err = d.optSDP()
	case "offer_id":
		m.OfferID, err = d.optString(true)
	case "failure reason":
		m.FailureReason, err = d.optString(false)
	case "warning message":
		m.WarningMessage, err = d.optString(false)
	case "interval":
		m.Interval, err = d.optIntPtr()
	case "min interval":
		m.MinInterval, err = d.optIntPtr()
	case "tracker id":
		m.ResponseTrackerID, err = d.optString(false)
	case "complete":
		m.Complete, err = d.optIntPtr()
	case "incomplete":
		m.Incomplete, err = d.optIntPtr()
	case "files":
		m.Files, err = d.files()
	case "flags":
		m.MinRequestInterval = nil
		if d.null() {
			return nil
		}
		err = d.object(func(key, _ []byte) error {
			if string(key) == "min_request_interval" {
				var err error
				m.MinRequestInterval, err = d.optIntPtr()
				return err
			}
			return d.skip(1)
		})
	default:
		return d.skip(1)
	}
	if err != nil {
		return fmt.Errorf("member %q: %w", lit, err)
	}
	return nil
}

// files decodes the scrape "files" object, whose member names are binary
// info hashes. A repeated member keeps the position of its first occurrence
// and the value of its last, as JSON.parse does.
func (d *trackerScanner) files() ([]ScrapeFile, error) {
	if d.null() {
		return nil, nil
	}
	files := []ScrapeFile{}
	err := d.object(func(_, lit []byte) error {
		// Read the name again as a value: it was validated as JSON only.
		q := make([]byte, 0, len(lit)+2)
		q = append(append(append(q, '"'), lit...), '"')
		name := trackerScanner{b: q}
		h, err := name.string(true)
		if err != nil {
			return fmt.Errorf("info hash %q: %w", lit, err)
		}
		f := ScrapeFile{InfoHash: h}
		if !d.null() {
			err := d.object(func(key, _ []byte) error {
				var p *int64
				switch string(key) {
				case "complete":
					p = &f.Complete
				case "incomplete":
					p = &f.Incomplete
				case "downloaded":
					p = &f.Downloaded
				default:
					return d.skip(1)
				}
				v, _, err := d.optInt()
				*p = v
				return err
			})
			if err != nil {
				return err
			}
		}
		for i := range files {
			if files[i].InfoHash == h {
				files[i] = f
				return nil
			}
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

func (d *trackerScanner) optSDP() (*TrackerSDP, error) {
	if d.null() {
		return nil, nil
	}
	s := &TrackerSDP{}
	err := d.object(func(key, _ []byte) error {
		var err error
		switch string(key) {
		case "type":
			s.Type, err = d.optString(false)
		case "sdp":
			s.SDP, err = d.optString(false)
		default:
			err = d.skip(1)
		}
		return err
	})
	return s, err
}

func (d *trackerScanner) optIntPtr() (*int64, error) {
	v, ok, err := d.optInt()
	if !ok {
		return nil, err
	}
	return &v, nil
}
