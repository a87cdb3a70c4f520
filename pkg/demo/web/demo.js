// demo.js plays the demo streams and charts where this browser's bytes came
// from: the origin over HTTP, other browsers over P2P, or superpeer over P2P
// (its peer ids start with -SP). HLS (live, VOD) plays with hls.js + P2P
// Media Loader 2.3; the DASH VOD with Shaka Player + P2P Media Loader 2.2.2
// (p2p-media-loader-shaka, the newest Shaka integration on npm), loaded when
// its tab opens. The numbers are also in window.__demo for the demo's browser
// test.
import Hls from 'hls.js'
import { HlsJsP2PEngine } from 'p2p-media-loader-hlsjs'

const SUPERPEER_PREFIX = '-SP'
const STREAMS = ['live', 'vod', 'dash']
const config = await (await fetch('/demo/config.json')).json()

const state = {
  stream: null,
  // http counts every segment byte from the origin: with Shaka, also the
  // segments it fetched itself, bypassing the P2P engine (init segments),
  // which are in bypassed too.
  bytes: { http: 0, browsers: 0, superpeer: 0, bypassed: 0 },
  samples: [], // [seconds since start, http, browsers, superpeer] cumulative bytes
  // peer id -> {superpeer, bytes, conns}: a page meets superpeer under one
  // peer id in every rendition's swarm, so a peer stays listed until its last
  // connection closes. P2P Media Loader 2.3.1 may dispatch onPeerClose once
  // for each of a connection's close, end and finish events (peer.ts), so the
  // count can reach zero early and the list can still miss a connected peer:
  // the byte counts, not this list, say where the bytes came from.
  peers: new Map(),
  playing: false,
  stalls: 0, // 'waiting' events after playback started (stream switches excepted)
  walkIndex: null, // DASH: {streams} once the segment-index snippet ran
  errors: []
}
window.__demo = state
// __collect is what the demo's browser test reads: the numbers, and where
// the chart is on the page (to look for superpeer's line in a screenshot).
window.__collect = () => {
  const r = document.getElementById('chart').getBoundingClientRect()
  return {
    stream: state.stream,
    bytes: { ...state.bytes },
    peers: [...state.peers.keys()],
    playing: state.playing,
    stalls: state.stalls,
    walkIndex: state.walkIndex,
    currentTime: document.getElementById('video').currentTime,
    errors: state.errors,
    superpeerShown: document.getElementById('superpeer').textContent,
    chart: { x: r.x, y: r.y, width: r.width, height: r.height, dpr: window.devicePixelRatio }
  }
}
const t0 = performance.now()
// player is what plays now: {destroy()}; loads counts play() calls, so that
// a slow Shaka start does not outlive a later tab switch.
let player = null
let loads = 0

function formatBytes (n) {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB']
  let i = -1
  do { n /= 1024; i++ } while (n >= 1024 && i < units.length - 1)
  return `${n.toFixed(1)} ${units[i]}`
}

function isSuperpeer (peerId) {
  return typeof peerId === 'string' && peerId.startsWith(SUPERPEER_PREFIX)
}

async function play (stream) {
  const load = ++loads
  if (player) {
    const p = player
    player = null
    await p.destroy()
  }
  state.stream = stream
  state.playing = false
  state.walkIndex = null
  for (const name of STREAMS) {
    document.getElementById(`tab-${name}`).setAttribute('aria-selected', String(name === stream))
  }
  const s = config.streams[stream]
  try {
    player = s.player === 'shaka' ? await playShaka(s, () => load === loads) : playHls(s)
  } catch (e) {
    // A load interrupted by a later tab switch is not an error.
    if (load === loads) state.errors.push(`${stream}: ${e?.message ?? e?.code ?? e}`)
  }
}

function p2pCore (s) {
  return { announceTrackers: [config.tracker], rtcConfig: { iceServers: config.iceServers }, ...s.core }
}

function playHls (s) {
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls)
  const hls = new HlsWithP2P({
    ...s.hls,
    p2p: { core: p2pCore(s), onHlsJsCreated: h => wireEngine(h.p2pEngine) }
  })
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) state.errors.push(`${data.type}: ${data.details}`)
  })
  hls.attachMedia(document.getElementById('video'))
  hls.loadSource(s.url)
  return { destroy: async () => hls.destroy() }
}

// loadShaka loads Shaka Player (a classic script that defines window.shaka)
// and its P2P Media Loader integration once, when the DASH tab first opens.
let shakaLoaded = null
function loadShaka () {
  shakaLoaded ??= (async () => {
    await new Promise((resolve, reject) => {
      const el = Object.assign(document.createElement('script'), { src: '/thirdparty/shaka-player.compiled.js' })
      el.onload = resolve
      el.onerror = () => reject(new Error('could not load Shaka Player'))
      document.head.append(el)
    })
    const { ShakaP2PEngine } = await import('p2p-media-loader-shaka')
    window.shaka.polyfill.installAll()
    ShakaP2PEngine.registerPlugins(window.shaka)
    return { shaka: window.shaka, ShakaP2PEngine }
  })()
  return shakaLoaded
}

// playShaka plays a DASH stream with Shaka Player + p2p-media-loader-shaka
// 2.2.2, default P2P settings, and the segment-index snippet of docs/dash.md.
async function playShaka (s, current) {
  const { shaka, ShakaP2PEngine } = await loadShaka()
  if (!current()) return null
  if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka Player does not support this browser')
  const video = document.getElementById('video')
  const player = new shaka.Player()
  await player.attach(video)
  const engine = new ShakaP2PEngine({ core: p2pCore(s) }, shaka)
  wireEngine(engine)
  engine.bindShakaPlayer(player)
  player.addEventListener('error', e => {
    if (e.detail?.severity === shaka.util.Error.Severity.CRITICAL) state.errors.push(`shaka: ${e.detail.code}`)
  })
  countBypassed(shaka, player, engine)

  // p2p-media-loader-shaka 2.2.2 + Shaka 4.x: register every segment, not
  // only the first ones (docs/dash.md, "The segment-index snippet").
  player.addEventListener('loaded', async () => {
    const p2pml = player.getNetworkingEngine()?.p2pml
    const manifest = player.getManifest()
    if (!p2pml || !manifest) return
    const seen = new Set()
    for (const variant of manifest.variants) {
      for (const stream of [variant.video, variant.audio]) {
        if (!stream || seen.has(stream.id)) continue
        seen.add(stream.id)
        await stream.createSegmentIndex()
        p2pml.segmentManager.updateStreamSegments(stream)
      }
    }
    state.walkIndex = { streams: seen.size }
  })

  const destroy = async () => {
    await player.destroy()
    engine.destroy()
  }
  if (!current()) {
    await destroy()
    return null
  }
  await player.load(s.url)
  return { destroy }
}

// countBypassed adds to the HTTP bytes the segments Shaka fetched itself
// (the P2P engine reports only those it loaded): a segment response whose
// URL the engine never loaded went around it, straight to the origin.
function countBypassed (shaka, player, engine) {
  const viaEngine = new Set()
  engine.addEventListener('onSegmentLoaded', d => viaEngine.add(stripQuery(d.segmentUrl)))
  const { RequestType } = shaka.net.NetworkingEngine
  player.getNetworkingEngine().registerResponseFilter((type, response) => {
    if (type !== RequestType.SEGMENT || !response.data || viaEngine.has(stripQuery(response.uri))) return
    state.bytes.http += response.data.byteLength
    state.bytes.bypassed += response.data.byteLength
  })
}

function stripQuery (url) {
  const i = url.indexOf('?')
  return i < 0 ? url : url.slice(0, i)
}

function wireEngine (engine) {
  engine.addEventListener('onChunkDownloaded', (bytes, source, peerId) => {
    if (source !== 'p2p') {
      state.bytes.http += bytes
      return
    }
    state.bytes[isSuperpeer(peerId) ? 'superpeer' : 'browsers'] += bytes
    let p = state.peers.get(peerId)
    if (!p) {
      // P2P Media Loader 2.3 reports one connection's close twice (its own
      // destroy, then the data channel's close event), so a peer with a
      // connection in each variant's swarm, as superpeer has, reads as gone
      // while one still carries bytes. Bytes say it is connected.
      p = { superpeer: isSuperpeer(peerId), bytes: 0, conns: 1 }
      state.peers.set(peerId, p)
      renderPeers()
    }
    p.bytes += bytes
  })
  engine.addEventListener('onPeerConnect', ({ peerId }) => {
    const p = state.peers.get(peerId) ?? { superpeer: isSuperpeer(peerId), bytes: 0, conns: 0 }
    p.conns++
    state.peers.set(peerId, p)
    renderPeers()
  })
  engine.addEventListener('onPeerClose', ({ peerId }) => {
    const p = state.peers.get(peerId)
    if (p && --p.conns <= 0) state.peers.delete(peerId)
    renderPeers()
  })
}

function renderPeers () {
  const ul = document.getElementById('peers')
  ul.replaceChildren()
  if (state.peers.size === 0) {
    ul.append(Object.assign(document.createElement('li'), { className: 'none', textContent: 'none yet' }))
    return
  }
  for (const [id, p] of state.peers) {
    const li = document.createElement('li')
    li.className = p.superpeer ? 'superpeer' : ''
    li.textContent = `${p.superpeer ? 'superpeer' : 'browser'} ${id.slice(-4)}`
    ul.append(li)
  }
}

function renderNumbers () {
  const { http, browsers, superpeer } = state.bytes
  document.getElementById('v-http').textContent = formatBytes(http)
  document.getElementById('v-browsers').textContent = formatBytes(browsers)
  document.getElementById('v-superpeer').textContent = formatBytes(superpeer)
  const total = http + browsers + superpeer
  if (total > 0) {
    const pct = n => Math.round(100 * n / total)
    document.getElementById('share').textContent =
      `${pct(superpeer + browsers)} % over P2P (${pct(superpeer)} % from superpeer, ${pct(browsers)} % from browsers), ${pct(http)} % from the origin`
  }
}

// drawChart plots the cumulative bytes of each source over time.
function drawChart () {
  const canvas = document.getElementById('chart')
  const ctx = canvas.getContext('2d')
  const { width: w, height: h } = canvas
  const pad = { l: 56, r: 10, t: 10, b: 24 }
  ctx.clearRect(0, 0, w, h)
  const samples = state.samples
  const t0s = samples.length ? samples[0][0] : 0
  const maxT = Math.max(30, samples.length ? samples[samples.length - 1][0] - t0s : 0)
  const maxY = Math.max(1, ...samples.map(s => Math.max(s[1], s[2], s[3])))
  const x = t => pad.l + (w - pad.l - pad.r) * (t - t0s) / maxT
  const y = v => h - pad.b - (h - pad.t - pad.b) * v / maxY
  ctx.strokeStyle = '#dde1e8'
  ctx.fillStyle = '#5b6475'
  ctx.font = '11px system-ui, sans-serif'
  ctx.lineWidth = 1
  for (let i = 0; i <= 4; i++) {
    const v = maxY * i / 4
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke()
    ctx.fillText(formatBytes(Math.round(v)), 4, y(v) + 4)
  }
  ctx.fillText(`${Math.round(t0s)} s`, pad.l, h - 6)
  ctx.fillText(`${Math.round(t0s + maxT)} s`, w - pad.r - 34, h - 6)
  const style = getComputedStyle(document.documentElement)
  for (const [i, color] of [[1, '--http'], [2, '--browsers'], [3, '--superpeer']]) {
    ctx.strokeStyle = style.getPropertyValue(color).trim()
    ctx.lineWidth = 2.5
    ctx.beginPath()
    samples.forEach((s, j) => (j ? ctx.lineTo(x(s[0]), y(s[i])) : ctx.moveTo(x(s[0]), y(s[i]))))
    ctx.stroke()
  }
}

function tick () {
  const t = (performance.now() - t0) / 1000
  state.samples.push([t, state.bytes.http, state.bytes.browsers, state.bytes.superpeer])
  if (state.samples.length > 600) state.samples.shift() // the last 10 minutes
  renderNumbers()
  drawChart()
}

function cell (tag, text, className) {
  const el = document.createElement(tag)
  el.textContent = text
  if (className) el.className = className
  return el
}

// renderSuperpeer shows superpeer's view from /status.json: per variant,
// the swarm it joined for each P2P Media Loader generation, the browsers it
// serves there and the tracker's count, and what it holds.
async function renderSuperpeer () {
  let st
  try {
    st = await (await fetch('/status.json', { cache: 'no-store' })).json()
  } catch {
    return
  }
  const table = document.createElement('table')
  const head = table.insertRow()
  for (const h of ['stream', 'variant', 'segments held / fetching', 'P2PML 2.2 swarm: peers served (tracker count)', 'P2PML 2.3 swarm: peers served (tracker count)']) {
    head.append(cell('th', h))
  }
  for (const s of st.streams) {
    for (const v of s.variants) {
      const row = table.insertRow()
      row.append(cell('td', `${s.id} (sent ${formatBytes(s.sent_bytes)})`), cell('td', v.label + (v.live ? ' (live)' : '')),
        cell('td', `${v.segments_loaded} / ${v.segments_loading}`))
      for (const gen of ['2.2', '2.3']) {
        const sw = v.swarms.find(x => x.generation === gen)
        row.append(cell('td', sw ? `${sw.peers} (${sw.swarm_size < 0 ? '?' : sw.swarm_size}) · ${sw.info_hash}` : '-'))
      }
    }
  }
  const ready = cell('p', st.ready ? 'ready' : 'not ready yet', st.ready ? 'ok' : 'bad')
  ready.prepend(`superpeer ${st.version}: `)
  const peers = cell('p', `${st.peers.used} browsers connected (limit ${st.peers.limit}), cache ${formatBytes(st.cache_bytes.used)} of ${formatBytes(st.cache_bytes.limit)}`)
  document.getElementById('superpeer').replaceChildren(ready, peers, table)
}

const video = document.getElementById('video')
video.addEventListener('playing', () => { state.playing = true })
video.addEventListener('waiting', () => { if (state.playing) state.stalls++ })
for (const name of STREAMS) document.getElementById(`tab-${name}`).onclick = () => play(name)
const requested = new URLSearchParams(location.search).get('stream')
play(STREAMS.includes(requested) ? requested : 'live')
setInterval(tick, 1000)
setInterval(renderSuperpeer, 2000)
renderSuperpeer()
