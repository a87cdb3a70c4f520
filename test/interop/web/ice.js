// ice.js is a classic script that runs before P2P Media Loader loads on the test pages
// (player.html via boot.js, player06.html): it wraps RTCPeerConnection (the cores capture the global
// when they load, see browser-testing.md) so the page can keep only 127.0.0.1 remote ICE candidates
// (?ice=loopback, the default; ?ice=all keeps all), and window.__iceReport reports the selected
// candidate pairs at the end of a run.
(function () {
  'use strict'
  var params = new URLSearchParams(location.search)
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
})()
