// webrtc-stub.mjs replaces the 'webrtc-polyfill' package (a native libdatachannel
// binding that `npm install --ignore-scripts` leaves unbuilt) for bt-client.mjs.
// It implements just enough of RTCPeerConnection for @thaunknown/simple-peer to
// produce non-trickle offers and answers: nothing ever connects. Every remote
// description set is reported through globalThis.__onRemoteDescription, and
// the SDPs carry the client's name (rtcConfig.name) so the test can tell whose
// they are.
let counter = 0

class FakeDataChannel {
  constructor (label) {
    this.label = label
    this.readyState = 'connecting'
    this.binaryType = 'blob'
    this.bufferedAmount = 0
    this.bufferedAmountLowThreshold = 0
  }

  send () {}
  close () { this.readyState = 'closed' }
}

export class RTCPeerConnection {
  constructor (config = {}) {
    this.name = config.name ?? 'unnamed'
    this.id = ++counter
    this.signalingState = 'stable'
    this.iceGatheringState = 'new'
    this.iceConnectionState = 'new'
    this.connectionState = 'new'
    this.localDescription = null
    this.remoteDescription = null
  }

  createDataChannel (label) { return new FakeDataChannel(label) }

  // Non-ASCII text in the SDP checks that the tracker relays UTF-8 text intact.
  _sdp (kind) {
    return `v=0\r\no=- ${this.id} 2 IN IP4 127.0.0.1\r\ns=${this.name}-${kind}-${this.id}-é\r\nt=0 0\r\na=ice-options:trickle\r\n`
  }

  async createOffer () { return { type: 'offer', sdp: this._sdp('offer') } }
  async createAnswer () { return { type: 'answer', sdp: this._sdp('answer') } }

  async setLocalDescription (d) {
    this.localDescription = { type: d.type, sdp: d.sdp }
    this.signalingState = d.type === 'offer' ? 'have-local-offer' : 'stable'
    this.onsignalingstatechange?.()
    setTimeout(() => {
      this.iceGatheringState = 'complete'
      this.onicegatheringstatechange?.()
      this.onicecandidate?.({ candidate: null })
    }, 0)
  }

  async setRemoteDescription (d) {
    this.remoteDescription = { type: d.type, sdp: d.sdp }
    globalThis.__onRemoteDescription?.(this.name, d)
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable'
    this.onsignalingstatechange?.()
  }

  addIceCandidate () { return Promise.resolve() }
  getStats () { return Promise.resolve(new Map()) }
  getTransceivers () { return [] }
  getSenders () { return [] }
  close () {
    this.signalingState = 'closed'
    this.connectionState = 'closed'
  }
}

export class RTCSessionDescription {
  constructor (init) {
    this.type = init.type
    this.sdp = init.sdp
  }
}

export class RTCIceCandidate {
  constructor (init) { Object.assign(this, init) }
}

export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }
