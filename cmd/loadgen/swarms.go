package main

import (
	"fmt"
	"net/url"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// swarmInfo is one (variant, generation) swarm of the synthetic stream.
type swarmInfo struct {
	variant  int
	gen      wire.Generation
	infoHash string
}

// streamSwarms derives the swarms a P2P Media Loader 2.x page joins for the
// origin's master playlist, parsed the way the hls.js integration sees it
// (pkg/playlist) and named per generation (pkg/wire), as superpeer does.
func streamSwarms(masterURL string, master []byte, gens []wire.Generation) ([]swarmInfo, error) {
	u, err := url.Parse(masterURL)
	if err != nil {
		return nil, err
	}
	m, err := playlist.ParseMaster(master, u)
	if err != nil {
		return nil, fmt.Errorf("parse master: %w", err)
	}
	var out []swarmInfo
	for _, g := range gens {
		for i, v := range m.Variants {
			sid := wire.StreamSwarmID23(m.SwarmBase, wire.StreamType(v.Type), streamProps(v))
			if g == wire.Gen22 {
				sid = wire.StreamSwarmID22(m.SwarmBase, wire.StreamType(v.Type), v.Ordinal)
			}
			out = append(out, swarmInfo{variant: i, gen: g, infoHash: g.InfoHash(sid)})
		}
	}
	return out, nil
}

// streamProps is the 2.3 short-id input of a variant, as the hls.js
// integration passes it (the same mapping as pkg/seeder's gen_v2.go).
func streamProps(v playlist.Variant) wire.StreamProps {
	r := v.Rendition
	if v.Type == playlist.Secondary {
		return wire.StreamProps{Codecs: r.Codecs, Language: r.Language, Channels: r.Channels, Name: r.Name}
	}
	p := wire.StreamProps{Bitrate: r.Bitrate}
	if r.Bitrate == 0 {
		return p
	}
	p.Codecs, p.FrameRate, p.VideoRange = r.Codecs, r.FrameRate, r.VideoRange
	p.Width, p.Height, p.HasSize = r.Width, r.Height, r.HasResolution
	return p
}

// peerIDPrefix is the peer id prefix of a generation's npm release
// (protocol-v2 §3.1).
func peerIDPrefix(g wire.Generation) string {
	if g == wire.Gen22 {
		return "-PM0202-"
	}
	return "-PM0203-"
}
