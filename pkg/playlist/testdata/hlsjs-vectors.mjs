// Generates testdata/vectors/hlsjs-master.json and hlsjs-media.json: what the real hls.js 1.6 and the
// real p2p-media-loader-hlsjs SegmentManagers (2.2.2 and 2.3.1) make of the playlists below.
//
//   node testdata/hlsjs-vectors.mjs ../../test/interop/node_modules testdata/vectors
//
// It also writes js-builtins.json: the JavaScript built-ins whose results hls.js passes on
// (parseInt, Number#toString(16), String#trim, the UTF-8 TextDecoder used by XHR responseText).
//
// Master cases: each is loaded with `new Hls().loadSource(url)` through an in-memory loader that answers with
// `response.url = responseURL` (a redirect when it differs from url), as XHR reports it. The
// MANIFEST_LOADED data goes to processMainManifest of both SegmentManagers with a fake Core that
// records addStreamIfNoneExists. The bare import "p2p-media-loader-core" of the 2.3.1 SegmentManager
// is redirected to a wrapper around the real generateStreamShortId (lib/utils/stream.js) that records
// its input, so `input` below is exactly what P2PML hashed.
// MediaSource.isTypeSupported answers false, so hls.js never appends unknown codecs (browser-specific).
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const nm = path.resolve(process.argv[2] ?? '../../test/interop/node_modules');
const streamJs = pathToFileURL(path.join(nm, 'p2p-media-loader-core/lib/utils/stream.js')).href;
const wrapper = `import { generateStreamShortId as g } from ${JSON.stringify(streamJs)};
export function generateStreamShortId(p) { const id = g(p); globalThis.__shortIds.push({ input: p, id }); return id; }`;
const hook = `export async function resolve(s, c, next) {
  if (s === 'p2p-media-loader-core') return { url: ${JSON.stringify('data:text/javascript,' + encodeURIComponent(wrapper))}, shortCircuit: true };
  return next(s, c);
}`;
register('data:text/javascript,' + encodeURIComponent(hook));

globalThis.self = globalThis;
globalThis.window = globalThis;
globalThis.location = { href: 'https://player.example.com/' };
globalThis.MediaSource = class { static isTypeSupported() { return false; } };
globalThis.__shortIds = [];

const imp = (p) => import(pathToFileURL(path.join(nm, p)).href);
const { default: Hls, M3U8Parser } = await imp('hls.js/dist/hls.mjs');
const { SegmentManager: SM23 } = await imp('p2p-media-loader-hlsjs/lib/segment-manager.js');
const { SegmentManager: SM22 } = await imp('hlsjs22/lib/segment-mananger.js');

const masterCases = [
  {
    name: 'vectors_vod_bbb', url: 'https://cdn.example.com/vod/bbb/master.m3u8?token=abc123',
    body: `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",FRAME-RATE=30.000
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2560000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000
720p/index.m3u8
`,
  },
  {
    name: 'vectors_live', url: 'https://live.example.com/channel1/master.m3u8',
    body: `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/en/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"
v360/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2400000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"
v720/index.m3u8
`,
  },
  {
    name: 'vectors_vod_ms10', url: 'https://cdn.example.com/vod/ms10/master.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
v/index.m3u8
`,
  },
  {
    name: 'unknown_codec_stripped', url: 'https://cdn.example.com/u/master.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="xyz1.2.3,mp4a.40.2"
weird/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
a/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1920x1080,CODECS="hvc1.1.6.L120.90,mp4a.40.2",VIDEO-RANGE=PQ,FRAME-RATE=29.970
b/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS="mp4a.40.2,AVC1.4d401e"
c/index.m3u8
`,
  },
  {
    name: 'unknown_codec_all_kept', url: 'https://cdn.example.com/u2/master.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="xyz1.2.3"
a.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1900000,CODECS="abc,avc1.640028"
b.m3u8
`,
  },
  {
    name: 'fake_main_audio_track', url: 'https://cdn.example.com/f/master.m3u8',
    body: `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="dub",NAME="Deutsch",LANGUAGE="de",CHANNELS="6/JOC",URI="dub/de.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="dub",LANGUAGE="fr",URI="dub/fr.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
v.m3u8
`,
  },
  {
    name: 'embedded_audio_track', url: 'https://cdn.example.com/e/master.m3u8',
    body: `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="Main",LANGUAGE="en",DEFAULT=YES
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="Commentary",LANGUAGE="en",URI="commentary.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="s",NAME="English",LANGUAGE="en",URI="subs.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1500000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="a",SUBTITLES="s"
v.m3u8
`,
  },
  {
    name: 'audio_groups', url: 'https://cdn.example.com/g/master.m3u8',
    body: `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en-US",CHANNELS="2",URI="aac/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="ac3",NAME="English 5.1",LANGUAGE="und",CHANNELS="6",URI="ac3/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="lost",NAME="Lost",URI="lost.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,NAME="No group",URI="nogroup.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aac"
v1.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,CODECS="avc1.64001f,ec-3",AUDIO="ac3"
v2.m3u8
`,
  },
  {
    name: 'media_playlist_as_manifest', url: 'https://cdn.example.com/m/index.m3u8?sig=1',
    body: `#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4.0,
s0.ts
#EXT-X-ENDLIST
`,
  },
  {
    name: 'duplicate_urls', url: 'https://cdn.example.com/d/master.m3u8',
    body: `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="A",URI="v/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="B",URI="aud.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="a"
v/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1100000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="a"
./v/../v/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1200000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="a"
w/index.m3u8
`,
  },
  {
    name: 'uri_forms', url: 'https://cdn.example.com/a/b/master.m3u8?q=1',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1
../x/1.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2
/abs/2.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3
https://other.example.com/3.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=4
//cdn2.example.com/4/./x/../4.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=5
./e/./f/../g.m3u8?x=1#frag
#EXT-X-STREAM-INF:BANDWIDTH=6
  spaced name.m3u8  
#EXT-X-STREAM-INF:BANDWIDTH=7
../../../../too/far.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=8
?only=query
#EXT-X-STREAM-INF:BANDWIDTH=9
HTTP://UPPER.example.com/Up.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=10
p;params/q;x.m3u8
`,
  },
  {
    name: 'redirect', url: 'https://cdn.example.com/r/master.m3u8?token=t0',
    responseURL: 'https://EDGE-7.Example.COM:443/r2/./tok/../master.m3u8?token=t1#x',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.4d401e,mp4a.40.2"
v/index.m3u8
`,
  },
  {
    name: 'redirect_port_path', url: 'http://cdn.example.com/r/master.m3u8',
    responseURL: 'http://cdn.example.com:8080/a%20b/x%2e%2E/%2e%2E/y/%2E/m.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1000000
v.m3u8
`,
  },
  {
    name: 'redirect_ipv6_escapes', url: 'http://cdn.example.com/r/master.m3u8',
    responseURL: 'http://[2001:DB8::0:1]:80/p/%7bx%7D/{y}/\u00fc/m.m3u8?a b&c="d"',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1000000
v.m3u8
`,
  },
  {
    name: 'bitrates_and_attrs', url: 'https://cdn.example.com/b/master.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:AVERAGE-BANDWIDTH=700000,RESOLUTION=416x234,CODECS="avc1.66.30,mp4a.40.2"
nobw.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=0,RESOLUTION=416x234,CODECS="avc1.77.30"
zero_nan.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=0,AVERAGE-BANDWIDTH=0,RESOLUTION=416x234,CODECS="avc1.4d401e",FRAME-RATE=25
zero.m3u8
#EXT-X-STREAM-INF:RESOLUTION=416x234
none.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=99999999999999999999,CODECS="avc1.4d401e"
huge.m3u8
#EXT-X-STREAM-INF:BANDWIDTH="1280000",RESOLUTION=0x0,CODECS="avc1.4d401e mp4a.40.2"
quoted.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=8000000,RESOLUTION=3840x2160,CODECS="hvc1.2.4.L153.B0,ec-3/JOC",FRAME-RATE=29.970,VIDEO-RANGE=pq
hdr.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1000000,BANDWIDTH=2000000,RESOLUTION=640X360,CODECS=avc1.4d401e, FRAME-RATE = 30
dup.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=-5,RESOLUTION=640x360x2,CODECS="avc1.4D401E,avc3.640028,dvh1.05.06"
neg.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1e6 ,CODECS="avc1.0x42.0x1e,avc1.abc.1,avc1.1"
parseint.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=12,CODECS="stpp.ttml.im1t,wvtt,mp4a.40.2,Opus,fLaC,ac-4.02.01.01"
textcodecs.m3u8
#EXT-X-STREAM-INF:
emptyattrs.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframes.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=13
# a comment

#EXT-X-SOMETHING:ELSE
after_comments.m3u8
`,
  },
  {
    name: 'crlf', url: 'https://cdn.example.com/crlf/master.m3u8',
    body: '#EXTM3U\r\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="En",URI="a.m3u8"\r\n#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="a"\r\nv.m3u8\r\n',
  },
  {
    name: 'variables', url: 'https://cdn.example.com/vars/master.m3u8?cdn=edge9',
    body: `#EXTM3U
#EXT-X-DEFINE:NAME="v",VALUE="video"
#EXT-X-DEFINE:QUERYPARAM="cdn"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="{$v} audio",URI="{$cdn}/aud.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="a"
{$cdn}/{$v}/index.m3u8
`,
  },
  {
    name: 'variables_missing', url: 'https://cdn.example.com/vars2/master.m3u8',
    body: `#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1000000
{$nope}/index.m3u8
`,
  },
  { name: 'no_extm3u', url: 'https://cdn.example.com/x/master.m3u8', body: `#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n` },
  { name: 'no_levels', url: 'https://cdn.example.com/y/master.m3u8', body: `#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="a.m3u8"\n` },
  {
    name: 'stream_inf_at_eof', url: 'https://cdn.example.com/z/master.m3u8',
    body: `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\nlast.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=3\n`,
  },
  {
    name: 'attr_edge_cases', url: 'https://cdn.example.com/w/master.m3u8',
    body: `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="Quote""d, name",LANGUAGE=en,URI="q.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="",LANGUAGE="",CHANNELS="",URI="e.m3u8"
#EXT-X-MEDIA:TYPE=audio,GROUP-ID="a",NAME="lower type",URI="lt.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="Ünïcödé Ñame",URI="u.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.4d401e,mp4a.40.5",AUDIO="a"
v.m3u8
`,
  },
];

const jsonSafe = (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);

async function run(c) {
  const responseURL = new URL(c.responseURL ?? c.url).href.split('#')[0];
  class MemLoader {
    constructor() {
      this.context = null;
      this.stats = { aborted: false, loaded: 0, retry: 0, total: 0, chunkCount: 0, bwEstimate: 0,
        loading: { start: 0, first: 0, end: 0 }, parsing: { start: 0, end: 0 }, buffering: { start: 0, first: 0, end: 0 } };
    }
    load(context, config, callbacks) {
      this.context = context;
      setTimeout(() => {
        if (context.url !== c.url) { callbacks.onError({ code: 404, text: 'not found' }, context, null, this.stats); return; }
        this.stats.loaded = this.stats.total = c.body.length;
        callbacks.onSuccess({ url: responseURL, data: c.body }, this.stats, context, { url: responseURL });
      }, 1);
    }
    abort() {}
    destroy() {}
  }
  const hls = new Hls({ loader: MemLoader, debug: false, autoStartLoad: false });
  // location: the URL as the server spelled it; responseURL: its WHATWG serialization (XHR).
  const out = { name: c.name, url: c.url, location: c.responseURL ?? c.url, responseURL, body: c.body };
  await new Promise((resolve) => {
    hls.on('hlsManifestLoaded', (e, data) => {
      out.swarmBase = responseURL.split('?')[0];
      out.levels = data.levels.map((l) => ({ url: l.url, bitrate: l.bitrate, videoCodec: l.videoCodec, audioCodec: l.audioCodec,
        width: l.width, height: l.height, frameRate: l.attrs['FRAME-RATE'], videoRange: l.attrs['VIDEO-RANGE'] }));
      out.audioTracks = data.audioTracks.map((t) => ({ url: t.url, audioCodec: t.audioCodec, lang: t.lang, channels: t.channels, name: t.name }));
      const rec = () => { const streams = []; return { streams, addStreamIfNoneExists(s) { if (!streams.some((x) => x.runtimeId === s.runtimeId)) streams.push(s); } }; };
      const core22 = rec();
      new SM22(core22).processMainManifest(data);
      out.streams22 = core22.streams;
      const core23 = rec();
      globalThis.__shortIds = [];
      new SM23(core23).processMainManifest(data);
      const calls = globalThis.__shortIds;
      // processMainManifest hashes every level and track in order, then adds it if its url is new.
      const all = [...data.levels.map((l) => l.url), ...data.audioTracks.map((t) => t.url)];
      if (calls.length !== all.length) throw new Error(`${c.name}: ${calls.length} shortId calls for ${all.length} streams`);
      out.streams23 = core23.streams.map((s) => {
        const call = calls[all.indexOf(s.runtimeId)];
        if (call.id !== s.index) throw new Error(`${c.name}: shortId mismatch`);
        return { ...s, input: call.input };
      });
      resolve();
    });
    hls.on('hlsError', (e, d) => {
      if (d.fatal && !out.levels) { out.error = d.details + (d.reason ? ': ' + d.reason : ''); resolve(); }
    });
    hls.loadSource(c.url);
  });
  hls.destroy();
  return out;
}

const outDir = process.argv[3] ?? 'testdata/vectors';
const write = (name, cases) => writeFileSync(path.join(outDir, name),
  JSON.stringify({ generator: 'hlsjs-vectors.mjs', hlsjs: Hls.version, cases }, jsonSafe, 1) + '\n');

const masterResults = [];
for (const c of masterCases) masterResults.push(await run(c));
write('hlsjs-master.json', masterResults);

// Media cases: M3U8Parser.parseLevelPlaylist(body, url) as the playlist loader calls it, then the
// real 2.3.1 SegmentManager.updatePlaylist (identical in 2.2.2) with a fake Core holding an empty
// stream for url; "segments" are the segments it adds.
const seg = (d, uri, br) => `#EXTINF:${d},\n${br ? `#EXT-X-BYTERANGE:${br}\n` : ''}${uri}\n`;
const mediaCases = [
  { name: 'byterange_vectors', url: 'https://cdn.example.com/vod/bbb/720p/index.m3u8',
    body: '#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n' +
      ['500000@0', '520000', '480000', '510000', '505000', '490000'].map((b) => `#EXTINF:4.0,\n#EXT-X-BYTERANGE:${b}\nall.ts\n`).join('') + '#EXT-X-ENDLIST\n' },
  { name: 'byterange_after_whole_segment', url: 'https://cdn.example.com/br/a.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, 'whole.ts') + seg(4, 'all.ts', '100') + seg(4, 'all.ts', '50') + '#EXT-X-ENDLIST\n' },
  { name: 'byterange_twice_and_other_uri', url: 'https://cdn.example.com/br/b.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:10@5\n#EXT-X-BYTERANGE:20@1000\na.ts\n' +
      seg(4, 'b.ts', '30') + seg(4, 'a.ts', ' 7@ 3 ') + seg(4, 'a.ts', '8x@2y') + '#EXT-X-ENDLIST\n' },
  { name: 'byterange_before_map', url: 'https://cdn.example.com/br/c.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-BYTERANGE:1000@0\n#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"\n#EXTINF:4,\nmain.mp4\n' +
      seg(4, 'main.mp4', '2000') + '#EXT-X-ENDLIST\n' },
  { name: 'blank_lines', url: 'https://cdn.example.com/bl/index.m3u8',
    body: '#EXTM3U\n\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n\nseg0.ts\n\n#EXTINF:4,\n   \t\nseg1.ts\n#EXT-X-ENDLIST\n' },
  { name: 'cr_line_endings', url: 'https://cdn.example.com/cr/index.m3u8',
    body: '#EXTM3U\r#EXT-X-TARGETDURATION:4\r#EXT-X-MEDIA-SEQUENCE:5\r#EXTINF:4,\rs5.ts\r#EXTINF:4,\rs6.ts\r' },
  { name: 'crlf_line_endings', url: 'https://cdn.example.com/crlf/index.m3u8',
    body: '#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n#EXT-X-MEDIA-SEQUENCE:5\r\n#EXTINF:4,\r\ns5.ts\r\n#EXTINF:4,\r\ns6.ts\r\n#EXT-X-ENDLIST\r\n' },
  { name: 'live_large_msn', url: 'https://live.example.com/big/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:9007199254740000\n' + seg(6, 'a.ts') + seg(6, 'b.ts') + seg(6, 'c.ts') },
  { name: 'live_no_msn', url: 'https://live.example.com/nomsn/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:6\n' + seg(6, 'a.ts') + seg(6, 'b.ts') },
  { name: 'live_msn_spaces', url: 'https://live.example.com/sp/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:   77\n' + seg(6, 'a.ts') },
  { name: 'live_msn_not_a_number', url: 'https://live.example.com/nan/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:-5\n' + seg(6, 'a.ts') },
  { name: 'live_empty', url: 'https://live.example.com/empty/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n' },
  { name: 'vod_msn_10', url: 'https://cdn.example.com/vod/ms10/v/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n' + seg(4, 's10.ts') + seg(4, 's11.ts') + '#EXT-X-ENDLIST\n' },
  { name: 'endlist_first_and_suffixed', url: 'https://cdn.example.com/el/index.m3u8',
    body: '#EXTM3U\n#EXT-X-ENDLIST:whatever\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:3\n' + seg(4, 'a.ts') },
  { name: 'extinf_without_duration', url: 'https://cdn.example.com/ei/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:,title\na.ts\n#EXTINF:4.5\nc.ts\n#EXTINF:1,\n#EXTINF:2,\nd.ts\n#EXTINF:3,\n#EXT-X-BYTERANGE:5@0\n#EXT-X-DISCONTINUITY\ne.ts\n#EXT-X-ENDLIST\n' },
  { name: 'tags_between', url: 'https://live.example.com/tags/index.m3u8',
    body: '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n' +
      '#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z\n' + seg(4, 'a.ts') +
      '#EXT-X-DISCONTINUITY\n#EXT-X-GAP\n' + seg(4, 'gap.ts') + '#EXT-X-DATERANGE:ID="ad",START-DATE="2024-01-01T00:00:08Z"\n# plain comment\n#EXT-X-BITRATE:800\n' + seg(4, 'b.ts') },
  { name: 'll_hls_parts', url: 'https://live.example.com/ll/index.m3u8',
    body: '#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:4\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3\n#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-MEDIA-SEQUENCE:500\n#EXT-X-MAP:URI="init.mp4"\n' +
      seg(4, 's500.mp4') + '#EXT-X-PART:DURATION=1,URI="s501.p0.mp4",INDEPENDENT=YES\n#EXT-X-PART:DURATION=1,URI="s501.p1.mp4"\n' + seg(2, 's501.mp4') +
      '#EXT-X-PART:DURATION=1,URI="s502.p0.mp4"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s502.p1.mp4"\n#EXT-X-RENDITION-REPORT:URI="../a/index.m3u8",LAST-MSN=501\n' },
  { name: 'widevine_tags', url: 'https://cdn.example.com/wv/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#WV-CYPHER-VERSION\n#WV-VIDEO-RESOLUTION\n#WV-AUDIO-CHANNELS 2\n' + seg(4, 'a.ts') + '#EXT-X-ENDLIST\n' },
  { name: 'uri_forms', url: 'https://cdn.example.com/a/b/index.m3u8?token=x',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, '../up.ts') + seg(4, '/abs.ts') + seg(4, 'https://other.example.com/o.ts') +
      seg(4, '  spaced.ts  ') + seg(4, 'q.ts?x=1') + seg(4, '\tTab.ts') + seg(4, '//cdn2.example.com/./p/../n.ts') + '#EXT-X-ENDLIST\n' },
  { name: 'bom', url: 'https://cdn.example.com/bom/index.m3u8',
    body: '\ufeff#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, 'a.ts') + '#EXT-X-ENDLIST\n', note: 'XHR strips the BOM before hls.js sees it' },
  // Rejected by ParseMedia (ErrUnsupported/ErrMalformed); hls.js output kept for reference.
  { name: 'uri_without_extinf', url: 'https://cdn.example.com/ne/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, 'a.ts') + 'b.ts\n' + seg(4, 'c.ts') + '#EXT-X-ENDLIST\n' },
  { name: 'indented_tag', url: 'https://cdn.example.com/it/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, 'a.ts') + '  #EXT-X-DISCONTINUITY\n' + seg(4, 'c.ts') + '#EXT-X-ENDLIST\n' },
  { name: 'extinf_garbage', url: 'https://cdn.example.com/eg/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:abc,\nb.ts\n#EXT-X-ENDLIST\n' },
  { name: 'msn_after_segment', url: 'https://live.example.com/ms/index.m3u8',
    body: '#EXTM3U\n#EXT-X-TARGETDURATION:4\n' + seg(4, 'a.ts') + '#EXT-X-MEDIA-SEQUENCE:7\n' + seg(4, 'b.ts') },
  { name: 'no_extm3u', url: 'https://cdn.example.com/nx/index.m3u8', body: '#EXT-X-TARGETDURATION:4\n' + seg(4, 'a.ts') },
];

function runMedia(c) {
  // XHR's UTF-8 decode drops a BOM.
  const body = c.body.replace(/^\ufeff/, '');
  const details = M3U8Parser.parseLevelPlaylist(body, c.url, 0, 'main', 0, null);
  const out = { name: c.name, url: c.url, body: c.body, live: details.live };
  if (details.playlistParsingError) out.error = details.playlistParsingError.message;
  let added = [];
  const core = {
    getStream: (u) => (u === c.url ? { segments: new Map() } : undefined),
    updateStream: (u, add) => { added = add; },
  };
  new SM23(core).updatePlaylist({ details });
  out.segments = added.map((s) => ({ runtimeId: s.runtimeId, externalId: s.externalId, url: s.url, byteRange: s.byteRange }));
  return out;
}
write('hlsjs-media.json', mediaCases.map(runMedia));

const intInputs = ['42', '  42', '\u00a0\t42abc', '-7', '+8', '-0', '0x1F', '0X1f', 'x1', '', 'abc', '1e5', '12.9',
  '9007199254740993', '99999999999999999999', '-99999999999999999999', '0x', '00012', '\ufeff5', '\u20285', '\u00855'];
const strInputs = ['  a b  ', '\t\n\v\f\r x \u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff', '\u0085x\u0085', '\u200bx'];
const byteInputs = [[0x61, 0xef, 0xbb, 0xbf, 0x62], [0xef, 0xbb, 0xbf, 0x61], [0xe2, 0x82, 0x61], [0xf0, 0x9f, 0x98], [0xc0, 0xaf],
  [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0xaf], [0xf0, 0x8f, 0xbf, 0xbf, 0x41], [0xff, 0xfe, 0x41], [0xc3, 0xa9, 0x80]];
const decoder = new TextDecoder('utf-8');
writeFileSync(path.join(outDir, 'js-builtins.json'), JSON.stringify({
  generator: 'hlsjs-vectors.mjs', node: process.version,
  parseInt: intInputs.map((s) => ({ in: s, radix10: parseInt(s, 10), auto: parseInt(s), hex: parseInt(s).toString(16) })),
  trim: strInputs.map((s) => ({ in: s, out: s.trim() })),
  utf8: byteInputs.map((b) => ({ in: b, out: decoder.decode(new Uint8Array(b)) })),
}, jsonSafe, 1) + '\n');
