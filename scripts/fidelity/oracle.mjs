// llama.cpp as the oracle of agree.cc: greedy generation step by step with the top-5 log-probs of
// each step (as ../shared's goldens), and the same steps teacher-forced in two batches (prompt,
// completion). llama.cpp is node-llama-cpp's prebuilt CPU build in $LLAMACPP_HOME (default
// ~/.cache/llamacpp-ref, set up by ../shared/bench/build_llamacpp.sh); prompts are the shared goldens'.
//   node scripts/fidelity/oracle.mjs MODEL.gguf OUT.json [n_predict]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
const home = process.env.LLAMACPP_HOME ?? path.join(os.homedir(), ".cache", "llamacpp-ref");
const { getLlama, LlamaLogLevel } = await import(path.join(home, "node_modules", "node-llama-cpp", "dist", "index.js"));
const [modelPath, outPath, np] = process.argv.slice(2);
const nPredict = Number(np ?? 24);
const prompts = JSON.parse(fs.readFileSync(new URL("../../../shared/golden/completions/llama-spm-d256-q4_k_m.gguf.json", import.meta.url), "utf8")).cases;
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: "never" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const top5 = (probs) => [...probs.entries()].slice(0, 5).map(([id, p]) => [id, Math.log(p)]);
const opts = { token: true, probabilities: true, options: { temperature: 0, topK: 0, topP: 1, minP: 0 } };
const cases = [];
for (const c of prompts) {
  const ctx = await model.createContext({ contextSize: 512, batchSize: 512, threads: 2, sequences: 1 });
  const seq = ctx.getSequence();
  // Sequential: the prompt as one batch, then one token per evaluation.
  const steps = [];
  const completion = [];
  let input = c.prompt_tokens.map((t, i) => (i === c.prompt_tokens.length - 1 ? [t, { generateNext: opts }] : t));
  for (let s = 0; s < nPredict; ++s) {
    const out = await seq.controlledEvaluate(input);
    const r = out[input.length - 1].next;
    if (r.probabilities.size < 32000) throw new Error("probabilities truncated: " + r.probabilities.size);
    steps.push({ top: top5(r.probabilities) });
    completion.push(r.token);
    input = [[r.token, { generateNext: opts }]];
  }
  await ctx.dispose();
  // Batched, teacher-forced: prompt batch, then the completion as one batch.
  const ctx2 = await model.createContext({ contextSize: 512, batchSize: 512, threads: 2, sequences: 1 });
  const seq2 = ctx2.getSequence();
  const p = c.prompt_tokens.map((t, i) => (i === c.prompt_tokens.length - 1 ? [t, { generateNext: opts }] : t));
  const o1 = await seq2.controlledEvaluate(p);
  const batched = [{ top: top5(o1[p.length - 1].next.probabilities) }];
  const q = completion.slice(0, -1).map((t) => [t, { generateNext: opts }]);
  const o2 = await seq2.controlledEvaluate(q);
  for (let i = 0; i < q.length; ++i) batched.push({ top: top5(o2[i].next.probabilities) });
  await ctx2.dispose();
  cases.push({ prompt_tokens: c.prompt_tokens, completion_tokens: completion, steps, batched });
}
fs.writeFileSync(outPath, JSON.stringify({ model: modelPath, n_predict: nPredict, cases }));
console.log("wrote", outPath);
await model.dispose();
