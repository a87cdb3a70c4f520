// player06.js plays one HLS stream with hls.js 0.14 + P2P Media Loader 0.6.2 (browser bundles) and
// collects window.__stats with the same shape as player.mjs, as far as 0.6's events allow:
//   - bytes/p2pByPeer/upload from piece_bytes_downloaded/_uploaded (method, bytes, peerId);
//   - segments from segment_loaded (segment, peerId): source "p2p" when a peer id is given;
//   - peers from peer_connect (peer) / peer_close (peerId);
//   - errors from segment_error and hls.js ERROR; 0.6 has no tracker error events.
// 0.6 names peers by hex(peer_id); the stats decode that to the peer id text ("-WW0006-…") so that
// Stats.P2PBytesFrom works as for 2.x.
//
// Query string (as player.mjs): src (required), p2pml (informational, "0.6.2"), tracker (the one
// trackerAnnounce entry), swarmId (segments.swarmId), live (hls.js liveSyncDurationCount 10), level
// (hls.js level to lock: 0.6 destroys every peer connection on a level switch), core.<k> (0.6 loader
// setting, JSON or string, e.g. core.rtcConfig={"iceServers":[]}), hls.<k> (hls.js setting), ice
// ("loopback" default: keep only 127.0.0.1 remote candidates, or "all"), debug (debug-module namespaces).
//
// window.__collect() resolves to a JSON-safe snapshot of window.__stats (waits for pending hashes).
(function () {
  'use strict'
  var t0 = performance.now()
  var now = function () { return Math.round(performance.now() - t0) }
  var params = new URLSearchParams(location.search)
  var MAX_LIST = 2000
  // debug=<namespaces> turns on the bundles' debug module (e.g. debug=p2pml:*,bittorrent-tracker:*), read
  // from localStorage when they load; it logs through console.debug (BrowserSpec.ConsoleAll).
  try {
    if (params.get('debug')) localStorage.debug = params.get('debug')
    else localStorage.removeItem('debug')
  } catch (e) {}

  // --- stats ---
  var stats = {
    p2pml: params.get('p2pml') || '0.6.2',
    hlsjs: null,
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
    errors: []
  }
  window.__stats = stats
  var pendingHashes = new Set()

  function pushCapped (list, item) {
    if (list.length < MAX_LIST) list.push(item)
  }
  function recordError (kind, detail) {
    pushCapped(stats.errors, Object.assign({ kind: kind, t: now() }, detail))
  }
  function stripQuery (url) {
    var i = url.indexOf('?')
    return i < 0 ? url : url.slice(0, i)
  }
  function parseValue (s) {
    try { return JSON.parse(s) } catch (e) { return s }
  }
  function hex (buf) {
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, '0') }).join('')
  }
  function isSet (v) {
    return v !== null && v !== '' && v !== '0' && v !== 'false'
  }
  // peerText turns 0.6's hex(peer_id) into the peer id text.
  function peerText (id) {
    if (typeof id !== 'string' || !/^[0-9a-f]{40}$/.test(id)) return id == null ? '(unknown)' : String(id)
    var s = ''
    for (var i = 0; i < 40; i += 2) s += String.fromCharCode(parseInt(id.slice(i, i + 2), 16))
    return s
  }

  window.addEventListener('error', function (e) { recordError('window', { message: String(e.message) }) })
  window.addEventListener('unhandledrejection', function (e) { recordError('unhandledrejection', { message: String(e.reason) }) })

  function buildConfig () {
    var live = isSet(params.get('live'))
    var loader = {}
    var segments = {}
    // enableWorker false: hls.js 0.14 transfers the fragment payload to its transmux worker, which
    // would detach it before the FRAG_LOADED listener below can hash it.
    var hls = { enableWorker: false }
    // 0.6.2's default rtcConfig is simple-peer 9.5's, whose 'stun:global.stun.twilio.com:3478?transport=udp'
    // current Chromium rejects ("not a valid stun or turn URL"): every RTCPeerConnection then fails to
    // construct, no offer is ever generated and the tracker client never announces. Use the default of
    // simple-peer >= 9.8 (what npm users of 0.6.2 resolve to) unless core.rtcConfig overrides it.
    loader.rtcConfig = { iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }] }
    var tracker = params.get('tracker')
    if (tracker) loader.trackerAnnounce = [tracker]
    var swarmId = params.get('swarmId')
    if (swarmId) segments.swarmId = swarmId
    if (live) hls.liveSyncDurationCount = 10
    params.forEach(function (v, k) {
      if (k.indexOf('core.') === 0) loader[k.slice(5)] = parseValue(v)
      else if (k.indexOf('hls.') === 0) hls[k.slice(4)] = parseValue(v)
    })
    return { live: live, core: loader, segments: segments, hls: hls }
  }

  function wireEngine (engine) {
    var Events = window.p2pml.core.Events
    engine.on(Events.PieceBytesDownloaded, function (method, bytes, peerId) {
      if (method === 'p2p') {
        stats.bytes.p2p += bytes
        var id = peerText(peerId)
        stats.p2pByPeer[id] = (stats.p2pByPeer[id] || 0) + bytes
      } else {
        stats.bytes.http += bytes
      }
    })
    engine.on(Events.PieceBytesUploaded, function (method, bytes, peerId) {
      stats.upload.bytes += bytes
      var id = peerText(peerId)
      stats.upload.byPeer[id] = (stats.upload.byPeer[id] || 0) + bytes
    })
    engine.on(Events.SegmentLoaded, function (segment, peerId) {
      pushCapped(stats.segments, {
        t: now(),
        url: stripQuery(segment.url),
        bytes: segment.data ? segment.data.byteLength : 0,
        source: peerId ? 'p2p' : 'http',
        peerId: peerId ? peerText(peerId) : null,
        streamType: 'main'
      })
    })
    engine.on(Events.SegmentError, function (segment, details, peerId) {
      recordError('segment', { url: segment && segment.url, peerId: peerId ? peerText(peerId) : null, message: String(details) })
    })
    engine.on(Events.PeerConnect, function (peer) {
      pushCapped(stats.peers.connected, { t: now(), peerId: peerText(peer.id), streamType: 'main' })
    })
    engine.on(Events.PeerClose, function (peerId) {
      pushCapped(stats.peers.closed, { t: now(), peerId: peerText(peerId), streamType: 'main' })
    })
  }

  function wireHls (hls) {
    var Hls = window.Hls
    hls.on(Hls.Events.FRAG_LOADED, function (_, data) {
      var frag = data.frag
      if (!data.payload || frag.sn === 'initSegment') return
      if (data.payload.byteLength === 0) {
        recordError('hash', { url: stripQuery(frag.url), message: 'FRAG_LOADED payload detached (hls.js worker?)' })
        return
      }
      var copy = data.payload.slice(0)
      var p = crypto.subtle.digest('SHA-256', copy).then(function (h) {
        pushCapped(stats.frags, { url: stripQuery(frag.url), sn: frag.sn, level: frag.level, sha256: hex(h), bytes: copy.byteLength })
      }).catch(function (e) { recordError('hash', { message: String(e) }) }).finally(function () { pendingHashes.delete(p) })
      pendingHashes.add(p)
    })
    hls.on(Hls.Events.LEVEL_SWITCHED, function (_, data) { stats.playback.levelSwitches.push({ t: now(), level: data.level }) })
    hls.on(Hls.Events.ERROR, function (_, data) {
      if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stats.playback.bufferStalledErrors++
      recordError('hls', {
        type: data.type,
        details: data.details,
        fatal: !!data.fatal,
        url: (data.frag && data.frag.url) || data.url || null,
        message: data.error ? String(data.error.message || data.error) : (data.reason || '')
      })
    })
    var level = params.get('level')
    if (level !== null && level !== '') {
      hls.on(Hls.Events.MANIFEST_PARSED, function () { hls.currentLevel = Number(level) })
    }
  }

  function wireVideo (video) {
    video.addEventListener('playing', function () {
      if (stats.playback.firstPlayingMs === null) {
        stats.playback.firstPlayingMs = now()
        stats.playback.startTime = video.currentTime
      }
    })
    video.addEventListener('waiting', function () {
      stats.playback.waitingEvents++
      if (stats.playback.firstPlayingMs !== null) stats.playback.stalls++
    })
    video.addEventListener('timeupdate', function () { stats.playback.currentTime = video.currentTime })
    video.addEventListener('ended', function () { stats.playback.ended = true })
    video.addEventListener('error', function () { recordError('video', { message: String(video.error && (video.error.message || video.error.code)) }) })
  }

  function sample (video) {
    var ahead = 0
    var b = video.buffered
    for (var i = 0; i < b.length; i++) {
      if (b.start(i) <= video.currentTime + 0.1 && b.end(i) > video.currentTime) ahead = b.end(i) - video.currentTime
    }
    pushCapped(stats.playback.samples, [now(), +video.currentTime.toFixed(2), +ahead.toFixed(2), video.readyState, video.paused ? 1 : 0])
  }

  window.__collect = async function () {
    await Promise.allSettled(Array.from(pendingHashes))
    var video = document.getElementById('video')
    stats.playback.currentTime = video.currentTime
    stats.playback.paused = video.paused
    stats.playback.readyState = video.readyState
    stats.collectedAtMs = now()
    stats.ice = await window.__iceReport()
    return JSON.parse(JSON.stringify(stats))
  }

  function main () {
    var Hls = window.Hls
    var p2pml = window.p2pml
    if (!Hls || !p2pml || !p2pml.core || !p2pml.hlsjs) throw new Error('hls.js or the P2P Media Loader 0.6 bundles did not load')
    stats.hlsjs = Hls.version
    var src = params.get('src')
    if (!src) throw new Error('missing src query parameter')
    if (!Hls.isSupported()) throw new Error('hls.js not supported')
    if (!p2pml.hlsjs.Engine.isSupported()) throw new Error('P2P Media Loader 0.6 not supported (no WebRTC)')
    var cfg = buildConfig()
    var engine = new p2pml.hlsjs.Engine({ loader: cfg.core, segments: cfg.segments })
    stats.config = { live: cfg.live, core: cfg.core, segments: cfg.segments, hls: cfg.hls, p2pmlVersion: p2pml.hlsjs.version }
    wireEngine(engine)
    var video = document.getElementById('video')
    wireVideo(video)
    setInterval(function () { sample(video) }, 1000)
    var hls = new Hls(Object.assign({}, cfg.hls, { loader: engine.createLoaderClass() }))
    p2pml.hlsjs.initHlsJsPlayer(hls)
    window.__hls = hls
    window.__engine = engine
    wireHls(hls)
    hls.loadSource(src)
    hls.attachMedia(video)
    video.muted = true
    video.play().catch(function (e) { recordError('play', { message: String(e) }) })
  }

  document.addEventListener('DOMContentLoaded', function () {
    try {
      main()
    } catch (e) {
      recordError('init', { message: String((e && e.message) || e) })
      console.error('player06 init failed', e)
    }
  })
})()
