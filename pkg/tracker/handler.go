package tracker

import (
	"context"
	"crypto/rand"
	"time"
)

// Handler receives a swarm's tracker traffic. It is implemented by the
// seeder's swarm and declared here, by the package that calls it.
type Handler interface {
	// Offers returns up to n fresh offers, with fully gathered SDP, for the next
	// announce. It runs on the swarm's own goroutine and must return soon after
	// ctx ends (Config.OfferTimeout, or the connection closing). Offers that do
	// not fit Config.MaxOutgoingBytes are left out of the announce, so a swarm
	// must time out unanswered offers on its own (browsers use 50 s).
	Offers(ctx context.Context, n int) []LocalOffer
	// HandleOffer is called for each offer relayed to this swarm. It must not
	// block; answer later with Client.Answer.
	HandleOffer(o Offer)
	// HandleAnswer is called for each answer relayed to this swarm, normally to
	// one of its offers (match on OfferID). It must not block.
	HandleAnswer(a Answer)
	// HandleAnnounceResponse reports the tracker's reply to an announce. It must
	// not block.
	HandleAnnounceResponse(r AnnounceResponse)
}

// LocalOffer is an offer of ours to put in an announce.
type LocalOffer struct {
	ID  string // offer_id: 20 random bytes (NewOfferID)
	SDP string
}

// Offer is an offer another peer sent through the tracker.
type Offer struct {
	InfoHash string
	PeerID   string // the offerer's peer id
	OfferID  string
	SDP      string
	Tracker  string // URL of the tracker it came through

	gen      uint64    // connection it arrived on
	received time.Time // when it arrived (Config.Now)
}

// Received returns when the offer arrived.
func (o Offer) Received() time.Time { return o.received }

// Answer is another peer's answer to one of our offers.
type Answer struct {
	InfoHash string
	PeerID   string // the answerer's peer id
	OfferID  string
	SDP      string
	Tracker  string
}

// AnnounceResponse is the tracker's reply to an announce.
type AnnounceResponse struct {
	InfoHash string
	Tracker  string
	// Interval is the re-announce interval now in use for the swarm, after the
	// Config.MinInterval floor; 0 if the reply carried none.
	Interval time.Duration
	// Complete and Incomplete are the tracker's seeder and leecher counts, -1
	// when absent.
	Complete, Incomplete int64
	// Warning is the tracker's "warning message", if any.
	Warning string
}

// NewOfferID returns 20 random bytes as a binary string, like the browser
// client's offer ids.
func NewOfferID() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return string(b[:])
}
