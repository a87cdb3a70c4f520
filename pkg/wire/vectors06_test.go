package wire

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// message06 is one data-channel message of testdata/v0.6/04-wire-vectors.json,
// captured from RTCDataChannel.send() under the published 0.6.2 bundle.
type message06 struct {
	Frame  string `json:"frame"`
	Length int    `json:"length"`
	UTF8   string `json:"utf8"`
	Hex    string `json:"hex"`
}

// wireVectors06 mirrors testdata/v0.6/04-wire-vectors.json.
type wireVectors06 struct {
	EmptyMap   message06 `json:"initialMapOnConnect_emptyStorage"`
	Map        message06 `json:"segmentsMap_0to4_loaded_5_loadingByHttp"`
	Request    message06 `json:"segmentRequest"`
	Cancel     message06 `json:"cancelSegmentRequest"`
	Absent     message06 `json:"segmentAbsent"`
	DataHeader message06 `json:"segmentDataHeader_1000000"`
	Chunks     struct {
		Count  int      `json:"count"`
		Sizes  []int    `json:"sizes"`
		Frames []string `json:"frames"`
		Total  int      `json:"total"`
	} `json:"segmentData_chunks_after_header"`
	InfoHashes []struct {
		StreamSwarmID string `json:"streamSwarmId"`
		SHA1Input     string `json:"sha1_input"`
		Hex           string `json:"info_hash_hex"`
		JSONString    string `json:"info_hash_json_string"`
		JSONUTF8Hex   string `json:"info_hash_json_utf8_hex"`
	} `json:"infoHashes"`
	RealClient struct {
		StreamSwarmID string `json:"streamSwarmId"`
		Hex           string `json:"hex"`
		Matches       bool   `json:"matches"`
	} `json:"infoHash_of_SWARM_from_real_client"`
	PeerIDPrefix string `json:"peerIdPrefix"`
}

func loadWireVectors06(t testing.TB) wireVectors06 {
	t.Helper()
	b, err := os.ReadFile("testdata/v0.6/04-wire-vectors.json")
	require.NoError(t, err)
	var v wireVectors06
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

// messages returns the command messages by name.
func (v wireVectors06) messages() map[string]message06 {
	return map[string]message06{
		"empty map": v.EmptyMap, "map": v.Map, "request": v.Request,
		"cancel": v.Cancel, "absent": v.Absent, "data header": v.DataHeader,
	}
}
