// Regenerates ../v0.6/tofixed.json: JavaScript's Number.prototype.toFixed(3),
// which the 0.6 Shaka integration applies to DASH segment start times to make
// short ids (p2p-media-loader-shaka/lib/parser-segment.ts@0.6.2). Each case is
// the IEEE 754 bit pattern of x (hex, so that -0 and every bit survive) and
// what node prints. The pseudo-random generator is seeded, so reruns with the
// same node give the same file.
//
//   node pkg/wire/testdata/gen/tofixed.mjs > pkg/wire/testdata/v0.6/tofixed.json
const buf = new DataView(new ArrayBuffer(8));
const bits = (x) => {
  buf.setFloat64(0, x);
  return buf.getBigUint64(0).toString(16).padStart(16, "0");
};
const fromBits = (b) => {
  buf.setBigUint64(0, b);
  return buf.getFloat64(0);
};

// xorshift64*: deterministic, independent of Math.random.
let state = 0x9e3779b97f4a7c15n;
const mask = (1n << 64n) - 1n;
const next64 = () => {
  state ^= state >> 12n;
  state ^= (state << 25n) & mask;
  state ^= state >> 27n;
  return (state * 0x2545f4914f6cdd1dn) & mask;
};
const unit = () => Number(next64() >> 11n) / 2 ** 53;

const xs = [
  0, -0, 0.0625, -0.0625, 0.0005, -0.0005, 0.0004, -0.0004, 1.0005, 2.0005, 1.2345,
  4, 8, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 123.4565, 999.9995, 9.9995, 1e20, 1e21, -1e21,
  999999999999999900000, 1e21 - 65536, 5e-324, -5e-324, Number.MIN_VALUE,
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2,
  NaN, Infinity, -Infinity, 0.00049999999999999999, 0.0015, 0.0025, 0.0035,
];
// Exact binary ties x·1000 = n + 1/2 are the odd multiples of 1/16.
for (let k = 0; k < 200; k++) xs.push((2 * Math.floor(unit() * 1e6) + 1) / 16);
for (let k = 0; k < 200; k++) xs.push(Math.floor(unit() * 1e6) * 0.0005);
// Shaka 2.5 SegmentTemplate@duration start times: k * (duration / timescale).
for (let k = 0; k < 300; k++) {
  const timescales = [1, 1000, 90000, 48000, 44100, 25, 30000, 12800];
  const ts = timescales[k % timescales.length];
  const dur = 1 + Math.floor(unit() * 10 * ts);
  xs.push(Math.floor(unit() * 100000) * (dur / ts));
}
// SegmentTimeline: (t - pto) / timescale.
for (let k = 0; k < 200; k++) xs.push(Math.floor(unit() * 2 ** 40) / [1000, 90000, 48000, 10000000][k % 4]);
// Uniform over magnitudes, both signs.
for (let k = 0; k < 600; k++) xs.push((unit() < 0.5 ? -1 : 1) * unit() * 10 ** Math.floor(unit() * 30 - 8));
// Arbitrary bit patterns (every exponent).
for (let k = 0; k < 400; k++) xs.push(fromBits(next64()));

const cases = xs.map((x) => ({ bits: bits(x), fixed: x.toFixed(3) }));
console.log(JSON.stringify({ generator: `node ${process.version} Number.prototype.toFixed(3)`, cases }, null, 0)
  .replace(/\},\{/g, "},\n{"));
