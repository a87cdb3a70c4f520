// player.mjs plays one HLS stream with hls.js + P2P Media Loader and collects window.__stats.
//
// Query string (all values are strings in the URL):
//   src       manifest URL (required)
//   p2pml     "2.3.1" (default) or "2.2.2"; boot.js maps the imports accordingly
//   tracker   announce tracker ws:// URL; the only P2PML setting changed by default (announceTrackers)
//   swarmId   optional P2PML swarmId
//   live      when set (non-empty, not "0"): hls.js liveSyncDurationCount 10, P2PML highDemandTimeWindow 8
//             (browser-testing.md "Measured baseline")
//   level     optional hls.js level index to lock (disables ABR) once the manifest is parsed
//   core.<k>  override of one P2PML core setting, value parsed as JSON when it parses, else a string
//             (e.g. core.highDemandTimeWindow=15, core.isP2PDisabled=true, core.rtcConfig={"iceServers":[]})
//   hls.<k>   override of one hls.js setting, same value rules (e.g. hls.maxBufferLength=30)
//   ice       "loopback" (default) or "all", handled by boot.js
//
// window.__collect() resolves to a JSON-safe snapshot of window.__stats (waits for pending hashes).
import Hls from 'hls.js'
import { HlsJsP2PEngine } from 'p2p-media-loader-hlsjs'

const t0 = performance.now()
const now = () => Math.round(performance.now() - t0)
const params = new URLSearchParams(location.search)
const MAX_LIST = 2000

const stats = {
  p2pml: params.get('p2pml') || '2.3.1',
  hlsjs: Hls.version,
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
    // one sample a second: [t ms, currentTime s, seconds buffered ahead, readyState, paused 0/1]
    samples: []
  },
  frags: [],
  errors: []
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
  // No workerPath: the ESM build of hls.js then transmuxes on the main thread. With a worker
  // (hls.workerPath=/node_modules/hls.js/dist/hls.worker.js) hls.js transfers the payload to it before
  // FRAG_LOADED listeners run, and the fragment hashes below cannot be taken.
  const hls = {}
  const tracker = params.get('tracker')
  if (tracker) core.announceTrackers = [tracker]
  const swarmId = params.get('swarmId')
  if (swarmId) core.swarmId = swarmId
  if (live) {
    hls.liveSyncDurationCount = 10
    core.highDemandTimeWindow = 8
  }
  for (const [k, v] of params) {
    if (k.startsWith('core.')) core[k.slice(5)] = parseValue(v)
    else if (k.startsWith('hls.')) hls[k.slice(4)] = parseValue(v)
  }
  return { live, core, hls }
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

function wireHls (hls) {
  hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
    const frag = data.frag
    if (!data.payload || frag.sn === 'initSegment') return
    if (data.payload.byteLength === 0) {
      recordError('hash', { url: stripQuery(frag.url), message: 'FRAG_LOADED payload detached (hls.js worker?)' })
      return
    }
    // Copy now: hls.js may transfer (detach) the payload to its transmux worker after this handler.
    const copy = data.payload.slice(0)
    const p = crypto.subtle.digest('SHA-256', copy).then(h => {
      pushCapped(stats.frags, { url: stripQuery(frag.url), sn: frag.sn, level: frag.level, sha256: hex(h), bytes: copy.byteLength })
    }).catch(e => recordError('hash', { message: String(e) })).finally(() => pendingHashes.delete(p))
    pendingHashes.add(p)
  })
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => stats.playback.levelSwitches.push({ t: now(), level: data.level }))
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stats.playback.bufferStalledErrors++
    recordError('hls', {
      type: data.type,
      details: data.details,
      fatal: !!data.fatal,
      url: data.frag?.url ?? data.url ?? null,
      message: data.error ? String(data.error.message ?? data.error) : (data.reason ?? '')
    })
  })
  const level = params.get('level')
  if (level !== null && level !== '') {
    hls.on(Hls.Events.MANIFEST_PARSED, () => { hls.currentLevel = Number(level) })
  }
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

function main () {
  if (window.__bootError) throw new Error(window.__bootError)
  const src = params.get('src')
  if (!src) throw new Error('missing src query parameter')
  if (!Hls.isSupported()) throw new Error('hls.js not supported')
  const cfg = buildConfig()
  stats.config = cfg
  const video = document.getElementById('video')
  wireVideo(video)
  setInterval(() => sample(video), 1000)
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls)
  const hls = new HlsWithP2P({
    ...cfg.hls,
    p2p: {
      core: cfg.core,
      onHlsJsCreated: h => wireCore(h.p2pEngine)
    }
  })
  window.__hls = hls
  wireHls(hls)
  hls.attachMedia(video)
  hls.loadSource(src)
  video.muted = true
  video.play().catch(e => recordError('play', { message: String(e) }))
}

try {
  main()
} catch (e) {
  recordError('init', { message: String(e?.message ?? e) })
  console.error('player init failed', e)
}
