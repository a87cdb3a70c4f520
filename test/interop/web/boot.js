// boot.js runs before any module on player.html. It:
//   1. writes the import map that selects the P2PML packages (?p2pml=2.3.1 | 2.2.2) from /node_modules/;
//   2. wraps RTCPeerConnection (the core captures the global when it loads, see browser-testing.md) so the
//      page can keep only 127.0.0.1 remote ICE candidates (?ice=loopback, the default; ?ice=all keeps all)
//      and report the selected candidate pairs at the end of a run (window.__iceReport);
//   3. loads player.mjs.
(function () {
  'use strict'
  var params = new URLSearchParams(location.search)
  var version = params.get('p2pml') || '2.3.1'
  var packages = {
    '2.3.1': { core: 'p2p-media-loader-core', hlsjs: 'p2p-media-loader-hlsjs' },
    '2.2.2': { core: 'core22', hlsjs: 'hlsjs22' }
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

  var iceMode = params.get('ice') || 'loopback'
  var pcs = []
  var dropped = { candidates: 0 }
  var keepCandidate = function (cand) {
    if (iceMode === 'all') return true
    // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    var f = String(cand).replace(/^a=/, '').split(' ')
    return f.length > 5 && f[4] === '127.0.0.1'
  }
  var filterSDP = function (sdp) {
    return sdp.split('\r\n').filter(function (line) {
      if (line.indexOf('a=candidate:') !== 0) return true
      if (keepCandidate(line)) return true
      dropped.candidates++
      return false
    }).join('\r\n')
  }
  var Native = window.RTCPeerConnection
  if (Native) {
    var Wrapped = function (config) {
      var pc = new Native(config)
      pcs.push(pc)
      var setRemote = pc.setRemoteDescription.bind(pc)
      pc.setRemoteDescription = function (desc) {
        if (desc && desc.sdp) desc = { type: desc.type, sdp: filterSDP(desc.sdp) }
        return setRemote(desc)
      }
      var addCand = pc.addIceCandidate.bind(pc)
      pc.addIceCandidate = function (c) {
        if (c && c.candidate && !keepCandidate(c.candidate)) {
          dropped.candidates++
          return Promise.resolve()
        }
        return addCand(c)
      }
      return pc
    }
    Wrapped.prototype = Native.prototype
    Wrapped.generateCertificate = Native.generateCertificate
    window.RTCPeerConnection = Wrapped
  }

  // __iceReport resolves to one entry per RTCPeerConnection the page created: its state and the
  // addresses of the selected candidate pair.
  window.__iceReport = async function () {
    var out = { mode: iceMode, droppedRemoteCandidates: dropped.candidates, connections: [] }
    for (var i = 0; i < pcs.length; i++) {
      var pc = pcs[i]
      var entry = { connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState }
      try {
        var report = await pc.getStats()
        var byId = {}
        report.forEach(function (s) { byId[s.id] = s })
        report.forEach(function (s) {
          if (s.type === 'transport' && s.selectedCandidatePairId && byId[s.selectedCandidatePairId]) {
            var pair = byId[s.selectedCandidatePairId]
            var l = byId[pair.localCandidateId] || {}
            var r = byId[pair.remoteCandidateId] || {}
            entry.selected = {
              local: l.address + ':' + l.port + '/' + l.protocol + ' ' + l.candidateType,
              remote: r.address + ':' + r.port + '/' + r.protocol + ' ' + r.candidateType,
              bytesSent: pair.bytesSent,
              bytesReceived: pair.bytesReceived
            }
          }
        })
      } catch (e) {
        entry.statsError = String(e)
      }
      out.connections.push(entry)
    }
    return out
  }

  var mod = document.createElement('script')
  mod.type = 'module'
  mod.src = 'player.mjs'
  im.after(mod)
})()
