// llama_logits.mjs: llama.cpp (node-llama-cpp's prebuilt CPU build) as an independent reference for our model.
// Loads a GGUF file, evaluates each prompt (token ids) in a fresh sequence and writes the raw next-token logits at
// every position. Usage: node llama_logits.mjs <peer dir> <in.json> <out.json>
//   in.json:  {"gguf": path, "prompts": [[ids...], ...], "threads": n, "kv_type": "F32"|"F16"}
//   out.json: {"logits": [[[V floats] per position] per prompt], "n_vocab": V}
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [peer, inPath, outPath] = process.argv.slice(2);
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(path.join(peer, "node_modules/node-llama-cpp/dist/index.js")).href);
const inp = JSON.parse(fs.readFileSync(inPath, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: inp.threads ?? 1 });
const model = await llama.loadModel({ modelPath: inp.gguf, useMmap: true });
const maxLen = Math.max(...inp.prompts.map((p) => p.length));
const context = await model.createContext({
  contextSize: Math.max(256, maxLen + 8), batchSize: Math.max(256, maxLen + 8), sequences: 1,
  threads: inp.threads ?? 1, flashAttention: false,
  experimentalKvCacheKeyType: inp.kv_type ?? "F32", experimentalKvCacheValueType: inp.kv_type ?? "F32",
});
const seq = context.getSequence();
const out = { logits: [] };
let nVocab = 0;
for (const prompt of inp.prompts) {
  await seq.clearHistory();
  const res = await seq.controlledEvaluate(prompt.map((t) => [t, { generateNext: { logits: true } }]));
  const rows = [];
  for (let i = 0; i < prompt.length; ++i) {
    const m = res[i]?.next?.logits;
    if (!m) throw new Error(`no logits at position ${i}`);
    nVocab = Math.max(nVocab, m.size);
    const row = new Array(m.size);
    for (const [tok, v] of m) row[tok] = v;
    rows.push(row);
  }
  out.logits.push(rows);
}
out.n_vocab = nVocab;
fs.writeFileSync(outPath, JSON.stringify(out));
await context.dispose();
await model.dispose();
process.exit(0);
