// boot.js runs before any module on player.html, after ice.js. It writes the import map that selects
// the P2PML packages (?p2pml=2.3.1 | 2.2.2 | 5) from /node_modules/, then loads player.mjs.
(function () {
  'use strict'
  var params = new URLSearchParams(location.search)
  var version = params.get('p2pml') || '2.3.1'
  var packages = {
    '2.3.1': { core: 'p2p-media-loader-core', hlsjs: 'p2p-media-loader-hlsjs' },
    '2.2.2': { core: 'core22', hlsjs: 'hlsjs22' },
    // Installed by TestSuperpeerP2PML5 where the registry serves 5.x.
    '5': { core: 'core5', hlsjs: 'hlsjs5' }
  }
  var pkg = packages[version]
  window.__bootError = null
  if (!pkg) {
    window.__bootError = 'unknown p2pml version ' + version
    console.error(window.__bootError)
    return
  }
  var importMap = {
    imports: {
      'hls.js': '/node_modules/hls.js/dist/hls.mjs',
      'p2p-media-loader-core': '/node_modules/' + pkg.core + '/dist/p2p-media-loader-core.es.js',
      'p2p-media-loader-hlsjs': '/node_modules/' + pkg.hlsjs + '/dist/p2p-media-loader-hlsjs.es.js'
    }
  }
  var im = document.createElement('script')
  im.type = 'importmap'
  im.textContent = JSON.stringify(importMap)
  document.currentScript.after(im)

  var mod = document.createElement('script')
  mod.type = 'module'
  mod.src = 'player.mjs'
  im.after(mod)
})()
