// tracker.mjs runs the npm bittorrent-tracker as a WebSocket-only WebTorrent tracker on 127.0.0.1.
//
// Usage: node tracker.mjs [--interval-ms N] [--host ADDR]   (ADDR default 127.0.0.1)
// Prints one JSON line {"port":N} on stdout once listening; logs go to stderr.
// Exits when stdin closes (the parent died or closed the pipe) or on SIGTERM/SIGINT.
// Browsers re-announce every interval/5 over WebSocket (bittorrent-tracker server.js).
import Server from 'bittorrent-tracker/server'

function parseArgs (argv) {
  const opts = { intervalMs: 0, host: '127.0.0.1' }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--interval-ms') opts.intervalMs = Number(argv[++i])
    else if (argv[i] === '--host') opts.host = argv[++i]
    else throw new Error(`unknown argument ${argv[i]}`)
  }
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const server = new Server({
  http: false,
  udp: false,
  ws: true,
  stats: false,
  trustProxy: false,
  ...(opts.intervalMs > 0 ? { interval: opts.intervalMs } : {})
})

let peers = 0
server.on('error', err => { console.error(`tracker error: ${err.message}`) })
server.on('warning', err => { console.error(`tracker warning: ${err.message}`) })
server.on('start', addr => { peers++; console.error(`tracker start ${addr} peers=${peers}`) })
server.on('stop', addr => { peers--; console.error(`tracker stop ${addr} peers=${peers}`) })

let closing = false
function shutdown (reason) {
  if (closing) return
  closing = true
  console.error(`tracker closing: ${reason}`)
  const force = setTimeout(() => process.exit(0), 2000)
  force.unref()
  server.close(() => process.exit(0))
}

server.on('listening', () => {
  const { port } = server.ws.address()
  process.stdout.write(JSON.stringify({ port }) + '\n')
})
server.listen(0, opts.host)

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
process.stdin.on('end', () => shutdown('stdin closed'))
process.stdin.on('close', () => shutdown('stdin closed'))
process.stdin.resume()
