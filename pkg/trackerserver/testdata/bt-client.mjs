// bt-client.mjs runs four real npm bittorrent-tracker CLIENTS (the code every
// P2P Media Loader browser runs, lib/client/websocket-tracker.js) against a
// tracker, with WebRTC stubbed (webrtc-stub.mjs): only the signalling is real.
//
//   swarm 1 (0.6 style: info_hash = SHA-1, bytes >= 0x80): A over <url>/a, B over <url>/b
//   swarm 2 (2.x style: 20 ASCII chars):                   C over <url>/a, D over <url>/b
//
// The client's socket pool keeps one WebSocket per URL, so A and C share one
// socket and B and D the other, as the swarms of one page do. A and C start
// first; B and D start once both have an announce response.
//
// Usage: node bt-client.mjs <node_modules dir> <ws://tracker>
// stdout: one JSON line per event: {"event":"update"|"remote"|"warning"|"error"|"stopped", ...}.
// stdin: a line "stop" makes every client send "stopped"; EOF destroys them and exits.
import { register } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'
import { pathToFileURL } from 'node:url'

register('./webrtc-stub-hooks.mjs', import.meta.url)

const [modules, url] = process.argv.slice(2)
const { default: Client } = await import(pathToFileURL(path.join(modules, 'bittorrent-tracker', 'client.js')).href)

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
globalThis.__onRemoteDescription = (client, d) => out({ event: 'remote', client, type: d.type, sdp: d.sdp })

const swarm1 = 'ae9cd6bf657a583a6f33711f1cae11fa25c19b43' // SHA-1("2https://example.com/live/master.m3u8+V0")
const swarm2 = Buffer.from('4Qkb0LjmxEJz/mMBrq53', 'latin1').toString('hex')
const specs = {
  A: { infoHash: swarm1, peerId: '-WW0006-aaaaaaaaaaaa', path: '/a' },
  B: { infoHash: swarm1, peerId: '-WW0006-bbbbbbbbbbbb', path: '/b' },
  C: { infoHash: swarm2, peerId: '-PM0203-cccccccccccc', path: '/a' },
  D: { infoHash: swarm2, peerId: '-PM0203-dddddddddddd', path: '/b' }
}
const clients = {}
const updated = new Set()

function start (name) {
  const s = specs[name]
  const client = new Client({
    infoHash: s.infoHash,
    peerId: Buffer.from(s.peerId, 'latin1'),
    announce: [url + s.path],
    port: 6881,
    rtcConfig: { name }
  })
  client.on('update', (d) => {
    out({ event: 'update', client: name, complete: d.complete, incomplete: d.incomplete })
    updated.add(name)
    if (updated.has('A') && updated.has('C') && !clients.B) {
      start('B')
      start('D')
    }
  })
  client.on('warning', (err) => out({ event: 'warning', client: name, message: String(err.message ?? err) }))
  client.on('error', (err) => out({ event: 'error', client: name, message: String(err.message ?? err) }))
  client.on('peer', () => {}) // peers never connect with the stub
  clients[name] = client
  client.start()
}

start('A')
start('C')

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  if (line.trim() === 'stop') {
    for (const c of Object.values(clients)) c.stop()
    out({ event: 'stopped' })
  }
})
rl.on('close', () => {
  for (const c of Object.values(clients)) c.destroy()
  setTimeout(() => process.exit(0), 100)
})
