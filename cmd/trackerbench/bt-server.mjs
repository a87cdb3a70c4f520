// bt-server.mjs runs the npm bittorrent-tracker server (WebSocket only, the
// reference implementation) for trackerbench, with no per-event logging so that
// the measurement is of the tracker alone. It listens on 127.0.0.1:0, prints
// {"port":N,"pid":P} on stdout and exits when stdin closes or on SIGTERM.
//
// Usage: node bt-server.mjs <node_modules dir>
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const modules = process.argv[2]
const require = createRequire(path.join(modules, 'noop.js'))
let serverPath
try {
  serverPath = require.resolve('bittorrent-tracker/server')
} catch {
  serverPath = path.join(modules, 'bittorrent-tracker', 'server.js')
}
const { default: Server } = await import(pathToFileURL(serverPath).href)

const server = new Server({ http: false, udp: false, ws: true, stats: false, trustProxy: false })
let warnings = 0
server.on('warning', () => { warnings++ })
server.on('error', (err) => { console.error(`tracker error: ${err.message}`) })
server.on('listening', () => {
  process.stdout.write(JSON.stringify({ port: server.ws.address().port, pid: process.pid }) + '\n')
})
server.listen(0, '127.0.0.1')

let closing = false
function shutdown () {
  if (closing) return
  closing = true
  console.error(`tracker closing (${warnings} warnings)`)
  setTimeout(() => process.exit(0), 1000).unref()
  server.close(() => process.exit(0))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
