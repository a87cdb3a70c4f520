// player-shaka.mjs plays one DASH or HLS stream with Shaka Player 4.16.9 + P2P Media Loader 2.2.2
// (p2p-media-loader-shaka) and collects window.__stats with the shape of player.mjs, so the Go side's
// Stats reads it unchanged:
//   - bytes/p2pByPeer/upload/segments/peers/errors from the P2PML core events, as player.mjs;
//   - frags: the SHA-256 of every segment response (init segments included) Shaka's networking engine
//     hands to the player, through a response filter; sn and level are -1 (Shaka has neither);
//   - playback from the video element; Shaka errors are kind "shaka" (fatal when CRITICAL).
//
// Query string:
//   src        manifest URL (required): .mpd (DASH) or .m3u8 (HLS)
//   p2pml      informational, "2.2.2"
//   tracker    announce tracker ws:// URL (core announceTrackers)
//   swarmId    optional P2PML swarmId
//   walkIndex  when set: once Shaka has loaded, walk every stream's whole segment index and hand it to
//              the P2P engine (the snippet of docs/dash.md "Shaka and DASH"). Without it Shaka 4.16
//              builds DASH segment indexes lazily, p2p-media-loader-shaka 2.2.2 reads a VOD index
//              once, and only the first segment(s) ever go through P2P.
//   live       live profile (docs/dash.md): P2PML highDemandTimeWindow 8; the integration itself sets
//              Shaka's presentation delay to 25 s
//   core.<k>   override of one P2PML core setting (JSON when it parses, else a string)
//   shaka.<k>  one Shaka player.configure(k, v) call, k a dotted path (e.g. shaka.streaming.bufferingGoal=20)
//   ice        "loopback" (default) or "all", handled by ice.js
//   debug      debug-module namespaces (handled in player-shaka.html)
//
// window.__collect() resolves to a JSON-safe snapshot of window.__stats (waits for pending hashes).
import { ShakaP2PEngine } from 'p2p-media-loader-shaka'

const shaka = window.shaka
const t0 = performance.now()
const now = () => Math.round(performance.now() - t0)
const params = new URLSearchParams(location.search)
const MAX_LIST = 2000

const stats = {
  p2pml: params.get('p2pml') || '2.2.2',
  hlsjs: 'shaka ' + (shaka?.Player?.version ?? '?'),
  player: 'shaka',
  src: params.get('src'),
  startedAtEpochMs: Date.now(),
  config: null,
  bytes: { http: 0, p2p: 0 },
  p2pByPeer: {},
  upload: { bytes: 0, byPeer: {} },
  segments: [],
  peers: { connected: [], closed: [] },
  playback: {
    firstPlayingMs: null,
    startTime: null,
    stalls: 0,
    waitingEvents: 0,
    bufferStalledErrors: 0,
    currentTime: 0,
    ended: false,
    levelSwitches: [],
    samples: []
  },
  frags: [],
  errors: [],
  walkIndex: null // { atMs, streams, segments } once the snippet ran
}
window.__stats = stats
const pendingHashes = new Set()

function pushCapped (list, item) {
  if (list.length < MAX_LIST) list.push(item)
}
function recordError (kind, detail) {
  pushCapped(stats.errors, { kind, t: now(), ...detail })
}
function stripQuery (url) {
  const i = url.indexOf('?')
  return i < 0 ? url : url.slice(0, i)
}
function parseValue (s) {
  try { return JSON.parse(s) } catch { return s }
}
function hex (buf) {
  return Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, '0')).join('')
}
function isSet (v) {
  return v !== null && v !== '' && v !== '0' && v !== 'false'
}

window.addEventListener('error', e => recordError('window', { message: String(e.message) }))
window.addEventListener('unhandledrejection', e => recordError('unhandledrejection', { message: String(e.reason) }))

function buildConfig () {
  const live = isSet(params.get('live'))
  const core = {}
  const shakaConfig = {}
  const tracker = params.get('tracker')
  if (tracker) core.announceTrackers = [tracker]
  const swarmId = params.get('swarmId')
  if (swarmId) core.swarmId = swarmId
  if (live) core.highDemandTimeWindow = 8
  for (const [k, v] of params) {
    if (k.startsWith('core.')) core[k.slice(5)] = parseValue(v)
    else if (k.startsWith('shaka.')) shakaConfig[k.slice(6)] = parseValue(v)
  }
  return { live, walkIndex: isSet(params.get('walkIndex')), core, shaka: shakaConfig }
}

function wireCore (engine) {
  engine.addEventListener('onChunkDownloaded', (bytesLength, downloadSource, peerId) => {
    if (downloadSource === 'p2p') {
      stats.bytes.p2p += bytesLength
      const id = peerId ?? '(unknown)'
      stats.p2pByPeer[id] = (stats.p2pByPeer[id] ?? 0) + bytesLength
    } else {
      stats.bytes.http += bytesLength
    }
  })
  engine.addEventListener('onChunkUploaded', (bytesLength, peerId) => {
    stats.upload.bytes += bytesLength
    stats.upload.byPeer[peerId] = (stats.upload.byPeer[peerId] ?? 0) + bytesLength
  })
  engine.addEventListener('onSegmentLoaded', d => {
    pushCapped(stats.segments, {
      t: now(),
      url: stripQuery(d.segmentUrl),
      bytes: d.bytesLength,
      source: d.downloadSource,
      peerId: d.peerId ?? null,
      streamType: d.streamType
    })
  })
  engine.addEventListener('onSegmentError', d => recordError('segment', {
    url: d.segment?.url, source: d.downloadSource, peerId: d.peerId ?? null, type: d.error?.type, message: String(d.error?.message ?? d.error)
  }))
  engine.addEventListener('onPeerConnect', d => pushCapped(stats.peers.connected, { t: now(), peerId: d.peerId, streamType: d.streamType }))
  engine.addEventListener('onPeerClose', d => pushCapped(stats.peers.closed, { t: now(), peerId: d.peerId, streamType: d.streamType }))
  engine.addEventListener('onPeerError', d => recordError('peer', { peerId: d.peerId, message: String(d.error?.message ?? d.error) }))
  engine.addEventListener('onTrackerError', d => recordError('tracker', { message: String(d.error?.message ?? d.error) }))
  engine.addEventListener('onTrackerWarning', d => recordError('trackerWarning', { message: String(d.warning?.message ?? d.warning) }))
}

// wireShaka hashes every segment response the networking engine delivers (after P2PML's scheme
// plugin, so P2P and HTTP bytes alike) and records Shaka's errors and track switches.
function wireShaka (player) {
  const { RequestType } = shaka.net.NetworkingEngine
  player.getNetworkingEngine().registerResponseFilter((type, response) => {
    if (type !== RequestType.SEGMENT || !response.data) return
    const data = response.data
    const copy = data instanceof ArrayBuffer ? data.slice(0) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
    const url = stripQuery(response.uri)
    const p = crypto.subtle.digest('SHA-256', copy).then(h => {
      pushCapped(stats.frags, { url, sn: -1, level: -1, sha256: hex(h), bytes: copy.byteLength })
    }).catch(e => recordError('hash', { message: String(e) })).finally(() => pendingHashes.delete(p))
    pendingHashes.add(p)
  })
  player.addEventListener('error', e => {
    const err = e.detail
    recordError('shaka', {
      type: String(err?.category ?? ''),
      details: String(err?.code ?? ''),
      fatal: err?.severity === shaka.util.Error.Severity.CRITICAL,
      message: String(err?.message ?? err)
    })
  })
  player.addEventListener('adaptation', () => {
    const active = player.getVariantTracks().find(tr => tr.active)
    if (active) stats.playback.levelSwitches.push({ t: now(), level: active.height ?? -1 })
  })
}

// walkSegmentIndex is the snippet docs/dash.md gives operators: after Shaka's 'loaded' event, make
// every stream's segment index complete and hand each to P2P Media Loader, which otherwise reads a
// VOD stream's (lazily built) index only once, when Shaka asks for its first segment.
async function walkSegmentIndex (player) {
  const p2pml = player.getNetworkingEngine()?.p2pml
  const manifest = player.getManifest()
  if (!p2pml || !manifest) return
  let streams = 0
  const seen = new Set()
  for (const variant of manifest.variants) {
    for (const stream of [variant.video, variant.audio]) {
      if (!stream || seen.has(stream.id)) continue
      seen.add(stream.id)
      await stream.createSegmentIndex()
      p2pml.segmentManager.updateStreamSegments(stream)
      streams++
    }
  }
  stats.walkIndex = { atMs: now(), streams }
}

function wireVideo (video) {
  video.addEventListener('playing', () => {
    if (stats.playback.firstPlayingMs === null) {
      stats.playback.firstPlayingMs = now()
      stats.playback.startTime = video.currentTime
    }
  })
  video.addEventListener('waiting', () => {
    stats.playback.waitingEvents++
    if (stats.playback.firstPlayingMs !== null) stats.playback.stalls++
  })
  video.addEventListener('timeupdate', () => { stats.playback.currentTime = video.currentTime })
  video.addEventListener('ended', () => { stats.playback.ended = true })
  video.addEventListener('error', () => recordError('video', { message: String(video.error?.message ?? video.error?.code) }))
}

function sample (video) {
  let ahead = 0
  const b = video.buffered
  for (let i = 0; i < b.length; i++) {
    if (b.start(i) <= video.currentTime + 0.1 && b.end(i) > video.currentTime) ahead = b.end(i) - video.currentTime
  }
  pushCapped(stats.playback.samples, [now(), +video.currentTime.toFixed(2), +ahead.toFixed(2), video.readyState, video.paused ? 1 : 0])
}

window.__collect = async function () {
  await Promise.allSettled([...pendingHashes])
  const video = document.getElementById('video')
  stats.playback.currentTime = video.currentTime
  stats.playback.paused = video.paused
  stats.playback.readyState = video.readyState
  stats.collectedAtMs = now()
  stats.ice = await window.__iceReport?.()
  return JSON.parse(JSON.stringify(stats))
}

async function main () {
  const src = params.get('src')
  if (!src) throw new Error('missing src query parameter')
  if (!shaka) throw new Error('Shaka Player did not load')
  shaka.polyfill.installAll()
  if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka Player not supported')
  const cfg = buildConfig()
  stats.config = cfg
  const video = document.getElementById('video')
  wireVideo(video)
  setInterval(() => sample(video), 1000)

  ShakaP2PEngine.registerPlugins(shaka)
  const player = new shaka.Player()
  await player.attach(video)
  const engine = new ShakaP2PEngine({ core: cfg.core }, shaka)
  wireCore(engine)
  engine.bindShakaPlayer(player)
  for (const [k, v] of Object.entries(cfg.shaka)) player.configure(k, v)
  window.__player = player
  window.__engine = engine
  wireShaka(player)
  if (cfg.walkIndex) {
    player.addEventListener('loaded', () => {
      walkSegmentIndex(player).catch(e => recordError('init', { message: 'walkIndex: ' + String(e?.message ?? e) }))
    })
  }
  video.muted = true
  await player.load(src)
  await video.play().catch(e => recordError('play', { message: String(e) }))
}

main().catch(e => {
  recordError('init', { message: String(e?.message ?? e) })
  console.error('player-shaka init failed', e)
})
