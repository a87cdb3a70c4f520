// Regenerates ../v0.6/command06-edge.json: how the published
// p2p-media-loader-core 0.6.2 reads odd data-channel messages. Each input runs
// through MediaPeer.getJsonCommand (the {" … } test, TextDecoder, JSON.parse)
// and, for maps, MediaPeer.createSegmentsMap, from the npm build (dist/):
//
//   npm pack p2p-media-loader-core@0.6.2 && tar xzf p2p-media-loader-core-0.6.2.tgz
//   node pkg/wire/testdata/gen/command06-edge.mjs ./package > pkg/wire/testdata/v0.6/command06-edge.json
import Module, { createRequire } from "node:module";
import path from "node:path";

const core = path.resolve(process.argv[2] ?? "package");
// media-peer.js logs through "debug", which the tarball does not bundle.
const resolve = Module._resolveFilename;
Module._resolveFilename = function (req, ...rest) {
  return req === "debug" ? "debug-stub" : resolve.call(this, req, ...rest);
};
Module._cache["debug-stub"] = { id: "debug-stub", filename: "debug-stub", loaded: true, exports: () => () => {} };
const require = createRequire(import.meta.url);
const { MediaPeer } = require(path.join(core, "dist/media-peer.js"));
const version = require(path.join(core, "package.json")).version;

const peer = new (require("node:events").EventEmitter)();
peer.id = "x";
const mp = new MediaPeer(peer, { p2pSegmentDownloadTimeout: 60000, webRtcMaxMessageSize: 65535 });

const long = (n, s) => s.repeat(n);
const inputs = [
  '{"c":2,"m":{}}',
  '{"c":3.0,"i":"a"}',
  '{"c":3e0,"i":"a"}',
  '{"c":-0,"i":"a","s":1}',
  '{"c":1,"i":"a","c":4}',
  '{"c":"3","i":"a"}',
  '{"c":5,"i":"a"}',
  '{"c":3,"i":7}',
  '{"c":3,"i":"a\\ud800b"}',
  '{"c":3,"i":"a\\"\\\\\\/\\u00e9\\ud83d\\ude00\\n"}',
  ' {"c":3,"i":"a"}',
  '{"c":3,"i":"a"}\n',
  '{"c":3,"i":"a"}}',
  '{"c":3,"i":"a",}',
  '{"c":03,"i":"a"}',
  '{"c":3,"i":"a\tb"}',
  '{"x":' + long(10000, "[") + long(10000, "]") + ',"c":3,"i":"a"}',
  '{"c":2}',
  '{"c":2,"m":null}',
  '{"c":2,"m":"x"}',
  '{"c":2,"m":{"a":["1",[0]],"b":{}}}',
  '{"c":2,"m":{"a":["1",[0],1]}}',
  '{"c":2,"m":{"a":["1|2",[0]]}}',
  '{"c":2,"m":{"a":["",[]]}}',
  '{"c":2,"m":{"a":["",[0]]}}',
  '{"c":2,"m":{"a":["1|2",[0,2]]}}',
  '{"c":2,"m":{"a":["1",["0"]]}}',
  '{"c":2,"m":{"a":["1|2|3",[-0,1.0,1e0]]}}',
  '{"c":2,"m":{"b":["1",[0]],"10":["2",[0]],"a":"bad","2":["3",[1]],"a":["4",[0]]}}',
  '{"c":2,"m":{"01":["1",[0]],"4294967295":["2",[0]],"4294967294":["3",[0]]}}',
  '{"c":2,"m":[["1",[0]]]}',
  '{"c":2,"m":{"__proto__":["1",[0]]}}',
  '{"c":2,"m":{"s+V0":["0|1|2|3|4|5",[0,0,0,0,0,1]],"s+V1":["7",[1]]}}',
];
const hexInputs = [
  "7b2263223a332c2269223a2261e28262227d", // {"c":3,"i":"a\xe2\x82b"}
  "7b2263223a332c2269223a2261ff62227d",
  "7b2263223a332c2269223a22eda080227d",
  "7b2263223a332c2269223a22c0af227d",
  "7b2263223a332c2269223a22f4908080227d",
];
const cases = [...inputs.map((s) => Buffer.from(s, "utf8")), ...hexInputs.map((h) => Buffer.from(h, "hex"))].map((buf) => {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  const cmd = mp.getJsonCommand(ab);
  const out = { hex: buf.toString("hex"), command: cmd != null };
  if (cmd == null) return out;
  out.c = [0, 1, 2, 3, 4].find((n) => cmd.c === n) ?? null;
  if (typeof cmd.i === "string") out.i = cmd.i;
  if (typeof cmd.s === "number") out.s = cmd.s;
  if (out.c === 2) out.map = [...mp.createSegmentsMap(cmd.m).entries()];
  return out;
});
console.log(JSON.stringify({ generator: `p2p-media-loader-core@${version} dist/media-peer.js, node ${process.version}`, cases }, null, 0)
  .replace(/\},\{/g, "},\n{"));
