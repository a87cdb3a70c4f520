// Module resolution hook (node:module register) that swaps the 'webrtc-polyfill'
// package for webrtc-stub.mjs.
const stub = new URL('./webrtc-stub.mjs', import.meta.url).href

export async function resolve (specifier, context, next) {
  if (specifier === 'webrtc-polyfill') return { url: stub, shortCircuit: true }
  return next(specifier, context)
}
