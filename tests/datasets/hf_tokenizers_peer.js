// hf_tokenizers_peer.js SCRATCH TOKENIZER_JSON TEXTS_JSON OUT_JSON [REPEATS]
// Encodes every text with HF tokenizers (Rust, through the @anush008/tokenizers Node binding) using encodeBatch,
// writes {"ids": [[...]...], "seconds": best time of REPEATS batch calls, "bytes": total UTF-8 bytes}.
const path = require('path');
const fs = require('fs');
const [scratch, tokPath, textsPath, outPath, repeatsArg] = process.argv.slice(2);
const { Tokenizer } = require(path.join(scratch, 'node_modules', '@anush008', 'tokenizers'));
(async () => {
  const tok = Tokenizer.fromFile(tokPath);
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  const repeats = Number(repeatsArg || 1);
  let best = Infinity, encs = null;
  for (let r = 0; r < repeats; ++r) {
    const t0 = process.hrtime.bigint();
    encs = await tok.encodeBatch(texts, { addSpecialTokens: false });
    const t1 = process.hrtime.bigint();
    best = Math.min(best, Number(t1 - t0) / 1e9);
  }
  const ids = encs.map((e) => Array.from(e.getIds()));
  const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t, 'utf8'), 0);
  fs.writeFileSync(outPath, JSON.stringify({ ids, seconds: best, bytes }));
})().catch((e) => { console.error(e); process.exit(1); });
