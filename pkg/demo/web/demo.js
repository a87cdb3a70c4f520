// demo.js plays the demo stream with hls.js + P2P Media Loader 2.3 and
// charts where this browser's bytes came from: the origin over HTTP, other
// browsers over P2P, or superpeer over P2P (its peer ids start with -SP).
// The numbers are also in window.__demo for the demo's browser test.
import Hls from 'hls.js'
import { HlsJsP2PEngine } from 'p2p-media-loader-hlsjs'

const SUPERPEER_PREFIX = '-SP'
const config = await (await fetch('/demo/config.json')).json()

const state = {
  stream: null,
  bytes: { http: 0, browsers: 0, superpeer: 0 },
  samples: [], // [seconds since start, http, browsers, superpeer] cumulative bytes
  peers: new Map(), // peer id -> {superpeer, bytes}
  playing: false,
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
    currentTime: document.getElementById('video').currentTime,
    errors: state.errors,
    superpeerShown: document.getElementById('superpeer').textContent,
    chart: { x: r.x, y: r.y, width: r.width, height: r.height, dpr: window.devicePixelRatio }
  }
}
const t0 = performance.now()
let hls = null

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

function play (stream) {
  if (hls) hls.destroy()
  state.stream = stream
  for (const [name, el] of [['live', 'tab-live'], ['vod', 'tab-vod']]) {
    document.getElementById(el).setAttribute('aria-selected', String(name === stream))
  }
  const s = config.streams[stream]
  const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls)
  hls = new HlsWithP2P({
    ...s.hls,
    p2p: {
      core: { announceTrackers: [config.tracker], rtcConfig: { iceServers: config.iceServers }, ...s.core },
      onHlsJsCreated: h => wireEngine(h.p2pEngine)
    }
  })
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) state.errors.push(`${data.type}: ${data.details}`)
  })
  hls.attachMedia(document.getElementById('video'))
  hls.loadSource(s.url)
}

function wireEngine (engine) {
  engine.addEventListener('onChunkDownloaded', (bytes, source, peerId) => {
    if (source !== 'p2p') {
      state.bytes.http += bytes
      return
    }
    state.bytes[isSuperpeer(peerId) ? 'superpeer' : 'browsers'] += bytes
    const p = state.peers.get(peerId)
    if (p) p.bytes += bytes
  })
  engine.addEventListener('onPeerConnect', ({ peerId }) => {
    state.peers.set(peerId, { superpeer: isSuperpeer(peerId), bytes: state.peers.get(peerId)?.bytes ?? 0 })
    renderPeers()
  })
  engine.addEventListener('onPeerClose', ({ peerId }) => {
    state.peers.delete(peerId)
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
document.getElementById('tab-live').onclick = () => play('live')
document.getElementById('tab-vod').onclick = () => play('vod')
play(new URLSearchParams(location.search).get('stream') === 'vod' ? 'vod' : 'live')
setInterval(tick, 1000)
setInterval(renderSuperpeer, 2000)
renderSuperpeer()
