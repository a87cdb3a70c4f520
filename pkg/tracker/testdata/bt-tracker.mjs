// Starts the real npm bittorrent-tracker server (WebSocket only) on
// 127.0.0.1:0 for the interop test and prints {"port":N} on stdout, then one
// JSON line per notable server event. It exits when stdin closes.
//
// Usage: node bt-tracker.mjs <node_modules dir> [interval ms]
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const modules = process.argv[2]
const interval = Number(process.argv[3] || 10 * 60 * 1000)
// Resolve through the package's "exports" ("./server" → server.js), as
// `import { Server } from 'bittorrent-tracker/server'` would from that tree.
const require = createRequire(path.join(modules, 'noop.js'))
let serverPath
try {
  serverPath = require.resolve('bittorrent-tracker/server')
} catch {
  serverPath = path.join(modules, 'bittorrent-tracker', 'server.js')
}
const { default: Server } = await import(pathToFileURL(serverPath).href)

const server = new Server({ http: false, udp: false, ws: true, stats: false, interval })
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
server.on('error', (err) => out({ event: 'error', message: err.message }))
server.on('warning', (err) => out({ event: 'warning', message: err.message }))
for (const ev of ['start', 'update', 'stop', 'complete']) {
  server.on(ev, (addr) => out({ event: ev, addr: String(addr) }))
}
server.on('listening', () => out({ port: server.ws.address().port }))
server.listen(0, '127.0.0.1')
process.stdin.resume()
process.stdin.on('end', () => server.close(() => process.exit(0)))
