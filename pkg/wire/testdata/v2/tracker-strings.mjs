// Generates tracker-strings.json: what JavaScript's JSON.stringify and
// JSON.parse do with the strings and objects the tracker codec must match.
// Run: node tracker-strings.mjs > tracker-strings.json (any Node >= 12).
const hex = (s) => Buffer.from(s, 'utf8').toString('hex');
const binary = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
const offerID = Buffer.from('00ff107f80c3e9415c22aabbccddeeff01020304', 'hex').toString('latin1');
const texts = [
  'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n',
  'tab\there "quoted" back\\slash /slash',
  '\u0000\u0001\u001f\u007f\u0080\u00ff',
  'line\u2028sep\u2029para',
  'ünïcødé €  😀',
  '</script><!-- & \'',
];
const out = {
  generator: 'tracker-strings.mjs',
  node: process.version,
  // JSON.stringify of a binary string (one char per byte): input as hex bytes.
  binary: [
    { bytesHex: Buffer.from(binary, 'latin1').toString('hex'), jsonHex: hex(JSON.stringify(binary)) },
    { bytesHex: Buffer.from(offerID, 'latin1').toString('hex'), jsonHex: hex(JSON.stringify(offerID)) },
  ],
  // JSON.stringify of ordinary text: input as UTF-8 hex.
  text: texts.map((t) => ({ utf8Hex: hex(t), jsonHex: hex(JSON.stringify(t)) })),
  // Frames JSON.parse accepts or rejects, with the re-stringified object when accepted.
  parse: [
    '{"action":"announce"}',
    ' \t\r\n{ "action" : "announce" , "interval" : 2e1 } \n',
    '{"action":"announce","interval":20.0,"complete":-0,"incomplete":1E1}',
    '{"act\\u0069on":"announce","info_hash":"\\u0041\\u00ff\\/","peer_id":"x"}',
    '{"action":"scrape","action":"announce"}',
    '{"action":"announce","unknown":{"a":[1,2,{"b":null}],"c":"\\ud800"},"x":true,"y":false,"z":null}',
    '{"action":"announce","offer_id":null,"offer":null}',
    '{"action":"announce"',
    '{"action":"announce"} x',
    '{"action":"announce",}',
    '{action:"announce"}',
    "{'action':'announce'}",
    '{"action":"announce","interval":01}',
    '{"action":"announce","interval":1.}',
    '{"action":"announce","interval":.5}',
    '{"action":"announce","interval":+1}',
    '{"action":"ann\tounce"}',
    '{"action":"\\x41"}',
    '{"action":"\\u12"}',
    '[]',
    '"announce"',
    '',
  ].map((s) => {
    try {
      return { text: s, ok: true, stringified: JSON.stringify(JSON.parse(s)) };
    } catch (e) {
      return { text: s, ok: false };
    }
  }),
};
console.log(JSON.stringify(out, null, 1));
