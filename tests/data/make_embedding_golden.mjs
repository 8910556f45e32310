// Writes tests/data/embedding_golden.json: llama.cpp's embeddings of a few inputs with the shared
// models, per pooling, L2-normalised (as llama-embedding's --embd-normalize 2 and OpenAI's are).
//
// llama.cpp is the node-llama-cpp package's prebuilt CPU build (the one ../shared/bench sets up
// in $LLAMACPP_HOME, default ~/.cache/llamacpp-ref). Its embedding context gives the last
// token's final-normed hidden state; fed one token at a time, that is every token's hidden state
// in turn (attention is causal), from which mean, first-token (cls) and last-token pooling
// follow exactly as llama.cpp pools them. The token ids are hangar's tokenization with special
// tokens parsed and BOS/EOS as the vocabulary asks, the same as llama-embedding's
// (the tokenizer itself is held to llama.cpp by the tokenizer tests).
//
//   node tests/data/make_embedding_golden.mjs path/to/hangar
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, '..', '..', '..', 'shared');
const hangar = process.argv[2];
if (!hangar) throw new Error('usage: node make_embedding_golden.mjs path/to/hangar');
const home = process.env.LLAMACPP_HOME ?? path.join(os.homedir(), '.cache', 'llamacpp-ref');
const { getLlama, LlamaLogLevel } = await import(path.join(home, 'node_modules', 'node-llama-cpp', 'dist', 'index.js'));

// Short and long inputs, several scripts, a special token's text; the long one spans several of
// the test engine's 64-token passes.
const inputs = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  'hangar keeps several models in memory and serves them over HTTP.\nA second line.',
  '日本語のテキストと English が混ざった文。 Ünïcödé ✓ <|im_start|>',
  Array(8).fill('retrieval pipelines ask for embeddings of long passages').join(' '),
];
// Every shared architecture and vocabulary style with mean pooling (what files without a
// pooling key get), and the other poolings on two of them.
const runs = [
  ['qwen3-d256-q4_k_m.gguf', ['mean', 'last', 'cls']],
  ['qwen2-d256-q4_k_m.gguf', ['mean']],
  ['llama-spm-d256-q8_0.gguf', ['mean', 'last']],
  ['llama3-d256-q4_k_m.gguf', ['mean']],
];

const normalize = (v) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => Number((x / n).toFixed(7)));
};

const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: 'never' });
const out = { generator: 'tests/data/make_embedding_golden.mjs', inputs, runs: [] };
for (const [file, poolings] of runs) {
  const modelPath = path.join(shared, 'models', file);
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const emb = await model.createEmbeddingContext({ contextSize: 1024, threads: 2 });
  const tokens = [], states = [];
  for (const text of inputs) {
    const ids = JSON.parse(execFileSync(hangar, ['tokenize', '-m', modelPath, '--special'], { input: text }).toString());
    const seq = emb._sequence;
    await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
    const perToken = [];
    for (let i = 0; i < ids.length; i++) {
      for await (const _ of seq.evaluate([ids[i]], { _noSampling: true })) break;
      perToken.push(Array.from(emb._llamaContext._ctx.getEmbedding(i + 1)));
    }
    tokens.push(ids);
    states.push(perToken);
  }
  for (const pooling of poolings) {
    const embeddings = states.map((perToken) => {
      if (pooling === 'cls') return normalize(perToken[0]);
      if (pooling === 'last') return normalize(perToken.at(-1));
      const mean = perToken[0].map((_, c) => perToken.reduce((s, row) => s + row[c], 0) / perToken.length);
      return normalize(mean);
    });
    out.runs.push({ model: file, pooling, tokens, embeddings });
  }
  await emb.dispose();
  await model.dispose();
  console.error(file, poolings.join(' '), 'ok');
}
fs.writeFileSync(path.join(here, 'embedding_golden.json'), JSON.stringify(out) + '\n');
