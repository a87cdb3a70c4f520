package tracker

import "errors"

var (
	// ErrInvalidConfig reports a Config that NewClient cannot use.
	ErrInvalidConfig = errors.New("invalid tracker config")
	// ErrRunning reports a second concurrent call of Client.Run.
	ErrRunning = errors.New("tracker client already running")
	// ErrInvalidID reports an info hash or peer id that is not 20 bytes, the
	// length bittorrent-tracker servers require.
	ErrInvalidID = errors.New("info hash and peer id must be 20 bytes")
	// ErrAlreadyJoined reports a second Join of the same info hash.
	ErrAlreadyJoined = errors.New("swarm already joined")
	// ErrNotJoined reports an Answer for a swarm that is not joined.
	ErrNotJoined = errors.New("swarm not joined")
	// ErrLateAnswer reports an Answer to an offer that arrived on an earlier
	// connection or longer than Config.AnswerTimeout ago.
	ErrLateAnswer = errors.New("offer too old to answer")
	// ErrQueueFull reports a message dropped because the send queue is full.
	ErrQueueFull = errors.New("tracker send queue full")
	// ErrTooLarge reports a message larger than Config.MaxOutgoingBytes.
	ErrTooLarge = errors.New("message too large for the tracker")
	// ErrOversized reports an incoming frame larger than Config.MaxMessageBytes.
	ErrOversized = errors.New("tracker message too large")
)
