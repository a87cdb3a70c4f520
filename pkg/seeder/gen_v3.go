package seeder

import (
	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// genV3 is P2P Media Loader 5.x ("v3"): the core names streams after the
// manifest's own attributes (the bitrate only where two streams of a type
// would otherwise hash alike), "v3-<swarmId>-<type>-<identityHash>" with the
// swarm id taken from the manifest URL the page requests, segments by media
// sequence number, and the 2.3 binary commands read more strictly. Its
// browsers fetch a new live segment over HTTP only when no neighbour has
// announced it (the election), which the stream's immediate publishing
// serves: a segment is announced as being fetched from the moment the
// playlist lists it, and as held the moment its bytes arrive.
type genV3 struct{}

func (genV3) name() wire.Generation { return wire.GenV3 }

// swarms names every variant: main streams from their EXT-X-STREAM-INF,
// audio tracks from their EXT-X-MEDIA and the group's codecs. A media
// playlist loaded as the manifest is a stream with no attributes.
//
// Not reproduced: 5.x also registers EXT-X-MEDIA TYPE=VIDEO renditions with
// a URI, and weighs levels hls.js drops for unknown codecs in the bitrate
// rule; superpeer follows hls.js's list of streams.
func (genV3) swarms(id streamIdentity, m *playlist.Manifest) []swarmIdentity {
	base := id.SwarmID
	if base == "" {
		base = wire.SwarmIDV3(id.RequestURL)
	}
	streams := make([]wire.StreamV3, len(m.Variants))
	for i, v := range m.Variants {
		a := v.Attributes
		streams[i].Type = wire.StreamType(v.Type)
		switch {
		case m.MediaOnly:
		case m.Format == playlist.FormatDASH:
			d := wire.DASHRepresentationAttrsV3{ID: a["id"], Bandwidth: a["bandwidth"], Codecs: a["codecs"],
				Width: a["width"], Height: a["height"], FrameRate: a["frameRate"], Lang: a["lang"], Channels: a["channels"]}
			if v.ContentType == "audio" {
				streams[i].Props = wire.DASHAudioPropsV3(d)
			} else {
				streams[i].Props = wire.DASHVideoPropsV3(d)
			}
		case v.Type == playlist.Secondary:
			streams[i].Props = wire.HLSAudioPropsV3(wire.HLSAudioAttrsV3{
				VariantCodecs: v.GroupCodecs, Name: a["NAME"], Language: a["LANGUAGE"], Channels: a["CHANNELS"],
			})
		default:
			streams[i].Props = wire.HLSVariantPropsV3(wire.HLSVariantAttrsV3{
				Bandwidth: a["BANDWIDTH"], Codecs: a["CODECS"], Resolution: a["RESOLUTION"],
				FrameRate: a["FRAME-RATE"], VideoRange: a["VIDEO-RANGE"],
			})
		}
	}
	hashes := wire.IdentityHashesV3(streams)
	out := make([]swarmIdentity, len(m.Variants))
	for i := range m.Variants {
		sid := wire.StreamSwarmIDV3(base, streams[i].Type, hashes[i])
		out[i] = swarmIdentity{Variant: i, SwarmID: sid, InfoHash: wire.GenV3.InfoHash(sid), Format: m.Format}
	}
	return out
}

// rulesV3 are the 5.x binary protocol's: HLS segments by media sequence
// number, a full 256-id block allowed (5.x reads a block count of 0 as 256),
// and the strict decoder.
var rulesV3 = binaryRules{
	id:            func(s playlist.Segment) int64 { return s.Sequence },
	perBlock:      wire.MaxIDsPerBlockV3,
	appendPayload: wire.AppendPayloadV3,
	decodePayload: wire.DecodePayloadV3,
}

// rulesV3DASH number DASH segments by presentation time in 100 ms units.
var rulesV3DASH = func() binaryRules {
	r := rulesV3
	r.id = func(s playlist.Segment) int64 { return wire.SegmentIDDASHV3(s.Start) }
	return r
}()

func (genV3) newProtocol(id swarmIdentity) protocol {
	if id.Format == playlist.FormatDASH {
		return newProtoBinary(rulesV3DASH)
	}
	return newProtoBinary(rulesV3)
}

// glare says that when superpeer and a browser offer to each other at once,
// both keep the handshake whose offerer has the lower peer id, as the 5.x
// client does.
func (genV3) glare() bool { return true }
