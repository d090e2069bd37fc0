// llama_peer.mjs: llama.cpp's decode speed on a GGUF file (node-llama-cpp 3.22.1, prebuilt CPU build), the peer of
// bench/bench_llama.cpp. Each of `batch` sequences gets the same prompt, then `steps` tokens are decoded per sequence,
// all sequences in one llama_decode per step (node-llama-cpp batches concurrent evaluations). The next token of each
// sequence is given (as in bench_llama.cpp), the logits of every decoded token are computed.
// Usage: node llama_peer.mjs <peer dir> <gguf> <batch> <prompt_len> <steps> <threads>
// Prints: llama_decode batch=<b> tokens=<n> seconds=<s> tokens_per_s=<r>
import path from "node:path";
import { pathToFileURL } from "node:url";

const [peer, gguf, batchS, promptS, stepsS, threadsS] = process.argv.slice(2);
const [batch, promptLen, steps, threads] = [batchS, promptS, stepsS, threadsS].map(Number);
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(path.join(peer, "node_modules/node-llama-cpp/dist/index.js")).href);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath: gguf });
const ctxLen = promptLen + steps + 8;
const context = await model.createContext({
  contextSize: ctxLen * batch, batchSize: Math.max(batch, promptLen * batch), sequences: batch, threads,
  flashAttention: false,
});
const seqs = Array.from({ length: batch }, () => context.getSequence());
const nVocab = Number(process.env.V ?? 512);
const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7 + 3) % nVocab);
await Promise.all(seqs.map((s) => s.controlledEvaluate(prompt.map((t) => t))));
const t0 = process.hrtime.bigint();
for (let step = 0; step < steps; ++step) {
  await Promise.all(seqs.map((s, b) =>
    s.controlledEvaluate([[(step * 13 + b * 5 + 1) % nVocab, { generateNext: { token: true } }]])));
}
const sec = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`llama_decode batch=${batch} tokens=${batch * steps} seconds=${sec.toFixed(4)} tokens_per_s=${(batch * steps / sec).toFixed(1)}`);
await context.dispose();
await model.dispose();
process.exit(0);
