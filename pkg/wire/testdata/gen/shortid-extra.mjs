// Regenerates ../v2/shortid-extra.json: edge cases of the 2.3 stream short id,
// computed by the real generateStreamShortId of the published
// p2p-media-loader-core 2.3.1 (installed by test/interop's package.json).
//
//   node pkg/wire/testdata/gen/shortid-extra.mjs > pkg/wire/testdata/v2/shortid-extra.json
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const core = path.resolve(here, "../../../../test/interop/node_modules/p2p-media-loader-core");
const { generateStreamShortId } = await import(path.join(core, "lib/utils/stream.js"));
const version = createRequire(import.meta.url)(path.join(core, "package.json")).version;

// Inputs as the player integrations pass them; NaN is written as the string
// "NaN" in JSON and turned back into NaN here and in the Go test.
const cases = [
  ["NaN bitrate (hls.js variant without BANDWIDTH)", { bitrate: "NaN", codecs: "avc1.64001f" }],
  ["und language, channels with suffix", { language: "und", channels: "6/JOC" }],
  ["language cut to two units", { language: "EN-us" }],
  ["non-canonical decimal avc1 kept", { codecs: "avc1.066.30" }],
  ["avc decimal converted, codecs sorted", { codecs: "AVC.77.40, mp4a.40.2" }],
  ["frame rate not a number", { frameRate: "fast" }],
  ["frame rate with whitespace", { frameRate: " 29.970 " }],
  ["zero size kept", { width: 0, height: 0 }],
  ["zero frame rate string kept", { frameRate: "0" }],
  ["name trimmed and lower-cased", { name: "  Deutsch (AD) " }],
];
const out = cases.map(([name, input]) => {
  const js = { ...input };
  if (js.bitrate === "NaN") js.bitrate = NaN;
  return { name, input, shortId: generateStreamShortId(js) };
});
console.log(JSON.stringify({ generator: `p2p-media-loader-core@${version}`, cases: out }, null, 1));
