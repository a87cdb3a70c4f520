package wire

import "errors"

// ErrMalformed reports input that does not follow the wire format: a truncated
// or oversized field, an unknown value type, a frame that is not a command.
// Decoders wrap it with the detail, so test with errors.Is.
var ErrMalformed = errors.New("malformed")

// ErrLimit reports a value the real P2P Media Loader decoder cannot represent,
// such as a segment-id list with 256 ids in one block (see EncodeCommand).
var ErrLimit = errors.New("beyond protocol limit")

// ErrNotCommand06 reports a data-channel message that a 0.6 browser would take
// for segment bytes rather than a command: it fails IsCommand06 or is not
// JSON. DecodeCommand06 wraps it together with ErrMalformed.
var ErrNotCommand06 = errors.New("not a 0.6 command")
