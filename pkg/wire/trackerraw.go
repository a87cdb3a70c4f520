package wire

import (
	"fmt"
	"unicode/utf8"
)

// TrackerAction is the "action" of a RawTrackerMessage.
type TrackerAction uint8

// The actions a tracker tells apart.
const (
	// TrackerActionNone: no action, null or "".
	TrackerActionNone TrackerAction = iota
	// TrackerActionAnnounce: "announce" (announces, answers).
	TrackerActionAnnounce
	// TrackerActionScrape: "scrape".
	TrackerActionScrape
	// TrackerActionOther: any other string.
	TrackerActionOther
)

// TrackerEvent is the "event" of a RawTrackerMessage.
type TrackerEvent uint8

// The announce events a tracker tells apart: bittorrent-tracker's five
// (lib/server/parse-websocket.js) and any other.
const (
	// TrackerEventNone: no event, null or "" (a periodic announce or an answer).
	TrackerEventNone TrackerEvent = iota
	// TrackerEventStarted: "started".
	TrackerEventStarted
	// TrackerEventStopped: "stopped".
	TrackerEventStopped
	// TrackerEventCompleted: "completed".
	TrackerEventCompleted
	// TrackerEventUpdate: "update".
	TrackerEventUpdate
	// TrackerEventPaused: "paused".
	TrackerEventPaused
	// TrackerEventOther: any other string.
	TrackerEventOther
)

func trackerActionOf(v []byte, present bool) TrackerAction {
	switch {
	case !present:
		return TrackerActionNone
	case string(v) == "announce":
		return TrackerActionAnnounce
	case string(v) == "scrape":
		return TrackerActionScrape
	}
	return TrackerActionOther
}

func trackerEventOf(v []byte, present bool) TrackerEvent {
	if !present {
		return TrackerEventNone
	}
	switch string(v) {
	case "started":
		return TrackerEventStarted
	case "stopped":
		return TrackerEventStopped
	case "completed":
		return TrackerEventCompleted
	case "update":
		return TrackerEventUpdate
	case "paused":
		return TrackerEventPaused
	}
	return TrackerEventOther
}

// BinaryID is an info_hash, peer_id or to_peer_id decoded from its binary
// string without allocating: the first 20 bytes and the decoded length.
type BinaryID struct {
	// Bytes holds the first min(Len, 20) bytes.
	Bytes [20]byte
	// Len is the decoded length; 0 when the member is absent, null or "".
	Len int
}

// Valid reports whether the id is exactly 20 bytes, the length
// bittorrent-tracker servers require.
func (id *BinaryID) Valid() bool { return id.Len == 20 }

// String returns the id as a binary string when it is valid, else "".
func (id *BinaryID) String() string {
	if !id.Valid() {
		return ""
	}
	return string(id.Bytes[:])
}

// RawTrackerOffer is one element of a RawTrackerMessage's offers.
type RawTrackerOffer struct {
	// OfferID is the literal of a non-empty binary string, nil when absent,
	// null or "".
	OfferID []byte
	// SDP is the literal of offer.sdp, nil when it or offer is absent or
	// null. The offer's type is checked but not kept.
	SDP []byte
}

// RawTrackerSDP is the {"type","sdp"} object of a RawTrackerMessage's answer,
// as literals (nil when absent or null).
type RawTrackerSDP struct {
	Type, SDP []byte
}

// RawTrackerMessage is a tracker frame as a tracker needs it to route the
// frame, decoded in place by DecodeRawTrackerMessage: the request members,
// ids decoded to bytes, and the strings a tracker forwards (SDP, offer ids)
// kept as the JSON string literals they arrived as, quotes included. Those
// literals alias the frame: they are valid JSON and can be copied verbatim
// into a relayed frame, with no unescape and re-escape of ~1.3 KB per SDP. A
// literal of length 2 is "".
//
// The request members are checked as DecodeTrackerMessage checks them, even
// those it does not keep (uploaded, downloaded, trackerid); response and
// scrape-response members, which a tracker has no use for, are skipped after
// a syntax check only. So every frame DecodeTrackerMessage accepts,
// DecodeRawTrackerMessage accepts too, with the same values.
type RawTrackerMessage struct {
	Action TrackerAction
	Event  TrackerEvent
	// InfoHash is the info_hash string; InfoHashList reports an array
	// instead (a scrape of several), whose elements are checked but not kept.
	InfoHash     BinaryID
	InfoHashList bool
	PeerID       BinaryID
	ToPeerID     BinaryID
	// NumWant and Left are meaningful when HasNumWant and HasLeft are set.
	NumWant    int64
	HasNumWant bool
	Left       int64
	HasLeft    bool
	// OfferID is the literal of a non-empty binary string, nil when absent,
	// null or "".
	OfferID []byte
	Offers  []RawTrackerOffer
	// Answer holds the answer's literals when HasAnswer (answer is an object).
	Answer    RawTrackerSDP
	HasAnswer bool

	scan trackerScanner // reused: no allocation per frame
}

// Reset clears m, dropping every reference into the last frame, and keeps
// the capacity of Offers, so that m and the frame buffer can both be reused.
func (m *RawTrackerMessage) Reset() {
	offers := m.Offers[:cap(m.Offers)]
	clear(offers)
	*m = RawTrackerMessage{Offers: offers[:0]}
}

// DecodeRawTrackerMessage decodes frame b into m, which is reset first
// (keeping the capacity of Offers). The literals in m alias b until the next
// Reset or decode. It never panics; input JSON.parse would reject, a top
// level that is not an object, or a member m holds with the wrong type
// yields an error wrapping ErrMalformed.
func DecodeRawTrackerMessage(b []byte, m *RawTrackerMessage) error {
	*m = RawTrackerMessage{Offers: m.Offers[:0]}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: tracker message: invalid utf-8", ErrMalformed)
	}
	d := &m.scan
	d.b, d.i = b, 0
	d.space()
	if err := d.object(func(key, lit []byte) error { return d.rawField(m, key, lit) }); err != nil {
		return fmt.Errorf("%w: tracker message: %w", ErrMalformed, err)
	}
	d.space()
	if d.i != len(d.b) {
		return fmt.Errorf("%w: tracker message: data after the object at offset %d", ErrMalformed, d.i)
	}
	d.b = nil
	return nil
}

// rawField decodes the value of the member named key (literal lit) into m.
func (d *trackerScanner) rawField(m *RawTrackerMessage, key, lit []byte) error {
	var err error
	switch string(key) {
	case "action":
		v, present, e := d.enumText()
		m.Action, err = trackerActionOf(v, present), e
	case "event":
		v, present, e := d.enumText()
		m.Event, err = trackerEventOf(v, present), e
	case "info_hash":
		m.InfoHash, m.InfoHashList = BinaryID{}, false
		if d.peek() == '[' {
			m.InfoHashList = true
			err = d.array(func() error {
				_, err := d.str(true, nil)
				return err
			})
		} else {
			err = d.optID(&m.InfoHash)
		}
	case "peer_id":
		err = d.optID(&m.PeerID)
	case "to_peer_id":
		err = d.optID(&m.ToPeerID)
	case "offer_id":
		m.OfferID, err = d.optLiteral(true)
	case "numwant":
		m.NumWant, m.HasNumWant, err = d.optInt()
	case "left":
		m.Left, m.HasLeft, err = d.optInt()
	case "uploaded", "downloaded":
		_, _, err = d.optInt() // checked, not kept
	case "trackerid":
		_, err = d.optLiteral(false) // checked, not kept
	case "offers":
		m.Offers = m.Offers[:0]
		if d.null() {
			return nil
		}
		err = d.array(func() error {
			var o RawTrackerOffer
			err := d.object(func(key, _ []byte) error {
				switch string(key) {
				case "offer":
					o.SDP = nil
					if d.null() {
						return nil
					}
					return d.rawSDP(nil, &o.SDP)
				case "offer_id":
					var err error
					o.OfferID, err = d.optLiteral(true)
					return err
				default:
					return d.skip(1)
				}
			})
			m.Offers = append(m.Offers, o)
			return err
		})
	case "offer":
		if !d.null() {
			var sdp []byte
			err = d.rawSDP(nil, &sdp)
		}
	case "answer":
		m.HasAnswer, m.Answer = false, RawTrackerSDP{}
		if !d.null() {
			m.HasAnswer = true
			err = d.rawSDP(&m.Answer.Type, &m.Answer.SDP)
		}
	default:
		return d.skip(1)
	}
	if err != nil {
		return fmt.Errorf("member %q: %w", lit, err)
	}
	return nil
}

// enumText reads the text string (or null) that names an action or event.
// present is false for null and "" (an empty string is an absent field in
// TrackerMessage); v is nil for a string too long to name any.
func (d *trackerScanner) enumText() (v []byte, present bool, err error) {
	if d.null() {
		return nil, false, nil
	}
	v, long, err := d.smallText()
	switch {
	case err != nil:
		return nil, false, err
	case long:
		return nil, true, nil
	}
	return v, len(v) > 0, nil
}

// rawSDP reads a {"type","sdp"} object, keeping both strings as literals (nil
// when absent or null). typ may be nil when the type is not wanted.
func (d *trackerScanner) rawSDP(typ, sdp *[]byte) error {
	return d.object(func(key, _ []byte) error {
		var err error
		switch string(key) {
		case "type":
			var v []byte
			v, err = d.optLiteral(false)
			if typ != nil {
				*typ = v
			}
		case "sdp":
			*sdp, err = d.optLiteral(false)
		default:
			err = d.skip(1)
		}
		return err
	})
}

// optLiteral reads a string and returns its literal, or nil for null. In
// binary mode an empty string is nil too.
func (d *trackerScanner) optLiteral(binary bool) ([]byte, error) {
	if d.null() {
		return nil, nil
	}
	lit, n, err := d.literal(binary)
	if err != nil || (binary && n == 0) {
		return nil, err
	}
	return lit, nil
}

// optID decodes a binary string (or null: absent) into id.
func (d *trackerScanner) optID(id *BinaryID) error {
	*id = BinaryID{}
	if d.null() {
		return nil
	}
	n, err := d.str(true, &id.Bytes)
	id.Len = n
	return err
}
