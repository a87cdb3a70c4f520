// browser.mjs drives headless Chromium (playwright-core, the system /usr/bin/chromium) through a list
// of viewers of web/player.html and prints their window.__stats as one JSON document on stdout.
//
// Usage: node browser.mjs '<spec json>'   or   node browser.mjs < spec.json
// Spec: {
//   "viewers": [{"url": "...", "startDelayMs": 0, "durationMs": 30000, "screenshot": "/optional.png",
//                "viewport": {"width": 640, "height": 360}}],
//   "consoleAll": false,       // forward every console message, not only warnings and errors
//   "extraArgs": []            // optional Chromium flags appended to CHROMIUM_ARGS
// }
// Output: {"browserVersion": "...", "viewers": [{"index", "url", "startDelayMs", "durationMs",
//          "loadedAtMs", "error", "stats"}]}
// Logs go to stderr. Exit status: 0 when every viewer produced stats, 1 when some viewer failed
// (the JSON is still printed), 2 when the spec is invalid or Chromium fails to launch.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

// SUPERPEER_CHROMIUM may point at another installed Chromium binary; nothing is ever downloaded.
const CHROMIUM = process.env.SUPERPEER_CHROMIUM || '/usr/bin/chromium'

// Flags from shared/docs/browser-testing.md. Playwright adds --headless itself and always runs on a
// fresh temporary --user-data-dir that it deletes on close (it rejects --user-data-dir in args).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--mute-audio',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns'
]

const log = (...a) => console.error('[browser]', ...a)
const sleep = ms => new Promise(resolve => setTimeout(resolve, Math.max(0, ms)))

async function readSpec () {
  if (process.argv[2]) return JSON.parse(process.argv[2])
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

function validate (spec) {
  if (!spec || !Array.isArray(spec.viewers) || spec.viewers.length === 0) {
    throw new Error('spec.viewers must be a non-empty array')
  }
  spec.viewers.forEach((v, i) => {
    if (typeof v.url !== 'string' || !v.url) throw new Error(`viewer ${i}: url required`)
    if (!(v.durationMs > 0)) throw new Error(`viewer ${i}: durationMs must be > 0`)
    v.startDelayMs = v.startDelayMs || 0
  })
  if (spec.extraArgs !== undefined && spec.extraArgs !== null &&
      !(Array.isArray(spec.extraArgs) && spec.extraArgs.every(a => typeof a === 'string'))) {
    throw new Error('spec.extraArgs must be an array of strings')
  }
}

async function runViewer (browser, spec, v, index, t0) {
  const out = { index, url: v.url, startDelayMs: v.startDelayMs, durationMs: v.durationMs, loadedAtMs: null, error: null, stats: null }
  await sleep(v.startDelayMs - (Date.now() - t0))
  const started = Date.now()
  const tag = `[viewer ${index}]`
  // One context per viewer: isolated storage, its own P2PML peer id.
  const context = await browser.newContext({ viewport: v.viewport || { width: 640, height: 360 } })
  try {
    // Camera+microphone permission makes Chromium offer plain 127.0.0.1 host candidates
    // (with --allow-loopback-in-peer-connection); no device is opened.
    await context.grantPermissions(['camera', 'microphone'], { origin: new URL(v.url).origin })
    const page = await context.newPage()
    page.on('console', msg => {
      const type = msg.type()
      if (spec.consoleAll || type === 'error' || type === 'warning') console.error(tag, `console.${type}:`, msg.text())
    })
    page.on('pageerror', err => console.error(tag, 'pageerror:', err.message))
    page.on('crash', () => console.error(tag, 'page crashed'))
    log(tag, 'open', v.url)
    await page.goto(v.url, { waitUntil: 'load', timeout: 30000 })
    out.loadedAtMs = Date.now() - t0
    await sleep(v.durationMs - (Date.now() - started))
    out.stats = await page.evaluate(() => window.__collect ? window.__collect() : { error: 'window.__collect missing (player.mjs did not load)' })
    if (v.screenshot) await page.screenshot({ path: v.screenshot })
    const s = out.stats
    log(tag, 'done', JSON.stringify({ currentTime: s.playback?.currentTime, http: s.bytes?.http, p2p: s.bytes?.p2p, errors: s.errors?.length }))
  } catch (err) {
    out.error = String(err?.message ?? err)
    log(tag, 'failed:', out.error)
  } finally {
    await context.close().catch(() => {})
  }
  return out
}

async function main () {
  let spec
  try {
    spec = await readSpec()
    validate(spec)
  } catch (err) {
    log('invalid spec:', err.message)
    return 2
  }
  let browser
  // One scratch dir for everything temporary (Playwright's profile and artifacts dirs, which it leaves
  // behind when a launch fails, and Chromium's temp files), removed at the end.
  const scratch = mkdtempSync(join(tmpdir(), 'superpeer-chromium-'))
  process.env.TMPDIR = scratch
  const closeAll = async () => {
    if (browser) await browser.close().catch(() => {})
    browser = undefined
    rmSync(scratch, { recursive: true, force: true })
  }
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.once(sig, async () => { log('got', sig); await closeAll(); process.exit(3) })
  }
  try {
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS, ...(spec.extraArgs || [])],
        timeout: 60000
      })
    } catch (err) {
      log('launch failed:', err.message)
      return 2
    }
    log('chromium', browser.version())
    const t0 = Date.now()
    const results = await Promise.all(spec.viewers.map((v, i) => runViewer(browser, spec, v, i, t0)))
    process.stdout.write(JSON.stringify({ browserVersion: browser.version(), viewers: results }) + '\n')
    return results.some(r => r.error) ? 1 : 0
  } finally {
    await closeAll()
  }
}

process.exitCode = await main()
