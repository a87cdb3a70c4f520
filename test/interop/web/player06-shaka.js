// player06-shaka.js plays one DASH (or HLS) stream with Shaka Player 2.5.23 + P2P Media Loader 0.6.2
// (browser bundles, p2p-media-loader-shaka) and collects window.__stats with the same shape as
// player.mjs, as far as 0.6's events allow (the engine re-emits the core's events, as for hls.js):
//   - bytes/p2pByPeer/upload from piece_bytes_downloaded/_uploaded (method, bytes, peerId);
//   - segments from segment_loaded (segment, peerId): source "p2p" when a peer id is given;
//   - peers from peer_connect (peer) / peer_close (peerId);
//   - errors from segment_error and Shaka's error event (kind "shaka"); 0.6 has no tracker error events;
//   - frags: the SHA-256 of every segment response Shaka's networking engine hands to the player
//     (a response filter; sn and level are -1).
// 0.6 names peers by hex(peer_id); the stats decode that to the peer id text ("-WW0006-…") so that
// Stats.P2PBytesFrom works as for 2.x.
//
// Query string: src (required), p2pml (informational, "0.6.2"), tracker (the one trackerAnnounce
// entry), swarmId (segments.swarmId), core.<k> (0.6 loader setting, JSON or string, e.g.
// core.rtcConfig={"iceServers":[]}), segments.<k> (0.6 segments setting), shaka.<k> (one Shaka
// player.configure(k, v) call, k a dotted path), ice ("loopback" default: keep only 127.0.0.1 remote
// candidates, or "all"), debug (debug-module namespaces).
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
    hlsjs: null, // 'shaka <version>'
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
    var loader = {}
    var segments = {}
    var shakaConfig = {}
    // 0.6.2's default rtcConfig is simple-peer 9.5's, whose 'stun:global.stun.twilio.com:3478?transport=udp'
    // current Chromium rejects ("not a valid stun or turn URL"): every RTCPeerConnection then fails to
    // construct and the tracker client never announces. Use the default of simple-peer >= 9.8 (what npm
    // users of 0.6.2 resolve to) unless core.rtcConfig overrides it (same as player06.js).
    loader.rtcConfig = { iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }] }
    var tracker = params.get('tracker')
    if (tracker) loader.trackerAnnounce = [tracker]
    var swarmId = params.get('swarmId')
    if (swarmId) segments.swarmId = swarmId
    params.forEach(function (v, k) {
      if (k.indexOf('core.') === 0) loader[k.slice(5)] = parseValue(v)
      else if (k.indexOf('segments.') === 0) segments[k.slice(9)] = parseValue(v)
      else if (k.indexOf('shaka.') === 0) shakaConfig[k.slice(6)] = parseValue(v)
    })
    return { core: loader, segments: segments, shaka: shakaConfig }
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

  function hashFrag (url, data) {
    if (!data) return
    var copy = data instanceof ArrayBuffer ? data.slice(0) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
    var p = crypto.subtle.digest('SHA-256', copy).then(function (h) {
      pushCapped(stats.frags, { url: stripQuery(url), sn: -1, level: -1, sha256: hex(h), bytes: copy.byteLength })
    }).catch(function (e) { recordError('hash', { message: String(e) }) }).finally(function () { pendingHashes.delete(p) })
    pendingHashes.add(p)
  }

  // hookSchemes wraps every scheme plugin registered from now on (the 0.6 integration registers its
  // http/https plugin in initShakaPlayer) so that each segment's bytes are hashed with their URL: the
  // responses of P2P-loaded segments carry no uri, so a response filter could not name them.
  function hookSchemes () {
    var NE = window.shaka.net.NetworkingEngine
    var SEGMENT = NE.RequestType.SEGMENT
    var register = NE.registerScheme
    NE.registerScheme = function (scheme, plugin, priority) {
      var wrapped = function (uri, request, requestType, progressUpdated) {
        var op = plugin(uri, request, requestType, progressUpdated)
        if (requestType === SEGMENT && op && op.promise) {
          op.promise.then(function (response) { hashFrag(uri, response && response.data) }, function () {})
        }
        return op
      }
      return register.call(NE, scheme, wrapped, priority)
    }
  }

  function wireShaka (player) {
    var shaka = window.shaka
    player.addEventListener('error', function (e) {
      var err = e.detail
      recordError('shaka', {
        type: String(err && err.category),
        details: String(err && err.code),
        fatal: !!err && err.severity === shaka.util.Error.Severity.CRITICAL,
        message: String((err && err.message) || err)
      })
    })
    player.addEventListener('adaptation', function () {
      var active = player.getVariantTracks().filter(function (tr) { return tr.active })[0]
      if (active) stats.playback.levelSwitches.push({ t: now(), level: active.height || -1 })
    })
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
    var shaka = window.shaka
    var p2pml = window.p2pml
    if (!shaka || !p2pml || !p2pml.core || !p2pml.shaka) throw new Error('Shaka Player or the P2P Media Loader 0.6 bundles did not load')
    stats.hlsjs = 'shaka ' + shaka.Player.version
    var src = params.get('src')
    if (!src) throw new Error('missing src query parameter')
    shaka.polyfill.installAll()
    if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka Player not supported')
    if (!p2pml.shaka.Engine.isSupported()) throw new Error('P2P Media Loader 0.6 not supported (no WebRTC)')
    var cfg = buildConfig()
    var engine = new p2pml.shaka.Engine({ loader: cfg.core, segments: cfg.segments })
    stats.config = { core: cfg.core, segments: cfg.segments, shaka: cfg.shaka, p2pmlVersion: p2pml.shaka.version }
    wireEngine(engine)
    var video = document.getElementById('video')
    wireVideo(video)
    setInterval(function () { sample(video) }, 1000)
    hookSchemes()
    var player = new shaka.Player(video)
    Object.keys(cfg.shaka).forEach(function (k) { player.configure(k, cfg.shaka[k]) })
    engine.initShakaPlayer(player)
    window.__player = player
    window.__engine = engine
    wireShaka(player)
    video.muted = true
    player.load(src).then(function () {
      return video.play()
    }).catch(function (e) { recordError('init', { message: 'load: ' + String((e && (e.message || e.code)) || e) }) })
  }

  document.addEventListener('DOMContentLoaded', function () {
    try {
      main()
    } catch (e) {
      recordError('init', { message: String((e && e.message) || e) })
      console.error('player06-shaka init failed', e)
    }
  })
})()
