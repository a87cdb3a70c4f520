package trackerserver

import "errors"

var (
	// ErrInvalidConfig reports a Config that New cannot use.
	ErrInvalidConfig = errors.New("invalid tracker server config")
	// ErrRunning reports a second call of Server.Run.
	ErrRunning = errors.New("tracker server already running")

	// errOversized reports an incoming frame larger than
	// Config.MaxMessageBytes once inflated (gorilla bounds the wire size).
	errOversized = errors.New("tracker message too large")
)
