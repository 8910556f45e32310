// Dumps every F32 tensor of one llama.cpp forward pass (its eval callback), to compare hangar's
// ops with llama.cpp's one by one: OUTDIR/NAME.K.bin (the K-th tensor of that name, raw floats)
// and OUTDIR/index.txt (name, op, shape). Links node-llama-cpp's own libllama (build.sh).
//   llama_dump MODEL.gguf TOKEN,TOKEN,... OUTDIR
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>
#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
static std::string outdir;
static std::map<std::string,int> seen;
static bool cb(struct ggml_tensor* t, bool ask, void*) {
  if (ask) return true;
  if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) return true;
  std::string n = t->name; int c = seen[n]++;
  std::string f = outdir + "/" + n + "." + std::to_string(c) + ".bin";
  FILE* fp = fopen(f.c_str(), "wb"); fwrite(t->data, 1, ggml_nbytes(t), fp); fclose(fp);
  FILE* ix = fopen((outdir + "/index.txt").c_str(), "a");
  fprintf(ix, "%s.%d %s %lld %lld %lld\n", n.c_str(), c, ggml_op_desc(t), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
  fclose(ix);
  return true;
}
int main(int argc, char** argv) {
  outdir = argv[3];
  ggml_backend_load_all_from_path(LLAMA_BINS);
  llama_backend_init();
  auto mp = llama_model_default_params(); mp.n_gpu_layers = 0;
  llama_model* m = llama_model_load_from_file(argv[1], mp);
  auto cp = llama_context_default_params();
  cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 2; cp.n_threads_batch = 2;
  // As node-llama-cpp's defaults (flash attention "auto": on for the CPU).
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO; cp.swa_full = false;
  cp.cb_eval = cb; cp.cb_eval_user_data = nullptr;
  llama_context* ctx = llama_init_from_model(m, cp);
  std::vector<llama_token> toks; { std::string s = argv[2]; size_t p = 0; while (p < s.size()) { size_t q = s.find(',', p); if (q == std::string::npos) q = s.size(); toks.push_back(std::stoi(s.substr(p, q - p))); p = q + 1; } }
  llama_batch b = llama_batch_get_one(toks.data(), (int)toks.size());
  if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
  const float* lg = llama_get_logits_ith(ctx, -1);
  FILE* fp = fopen((outdir + "/logits_last.bin").c_str(), "wb"); fwrite(lg, 4, llama_vocab_n_tokens(llama_model_get_vocab(m)), fp); fclose(fp);
  llama_free(ctx); llama_model_free(m);
  return 0;
}
