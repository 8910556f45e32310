// Test helpers: real vocabularies, matching whole texts, and sampling random constrained outputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "grammar/matcher.h"
#include "tokenizer/tokenizer.h"

namespace hangar::grammar::testing {

// The tokenizer of a shared vocab file ("qwen2", "llama-spm", "llama-bpe"), loaded once.
inline const Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return *it->second;
  const std::string path = std::string(HANGAR_SHARED_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
  auto file = gguf::File::open(path);
  EXPECT_TRUE(file.ok()) << path;
  auto tok = Tokenizer::from_gguf(*file);
  EXPECT_TRUE(tok.ok()) << path;
  return *(cache[name] = std::make_unique<Tokenizer>(std::move(tok).value()));
}

// Its token data for grammars, built once.
inline std::shared_ptr<const TokenVocab> vocab(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const TokenVocab>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  return cache[name] = TokenVocab::build(tokenizer(name));
}

inline std::shared_ptr<const Constraint> constraint(const Grammar& g, const std::string& vocab_name = "qwen2") {
  auto c = std::make_shared<Constraint>();
  c->grammar = std::make_shared<const Grammar>(g);
  c->vocab = vocab(vocab_name);
  return c;
}

// Whether the grammar matches `text` exactly.
inline bool matches(const Grammar& g, const std::string& text) {
  Matcher m(constraint(g));
  return m.accept_bytes(text) && m.can_end();
}

struct Sampled {
  std::string text;
  bool finished = false;  // ended with an end-of-generation token or where nothing may follow
  int tokens = 0;
};

// A random generation under the grammar. Each step takes up to 256 of the allowed tokens at
// random, gives them random logits (tokens holding a closing character '"', ']' or '}' get
// `close_bias` more, so that outputs stay short) and draws from softmax(logits / temperature);
// temperature 0 takes the best. Sampling only a subset keeps the test fast; which tokens are
// allowed is the matcher's business alone.
inline Sampled sample(const std::shared_ptr<const Constraint>& c, uint64_t seed, float temperature,
                      float close_bias = 6.0f, int max_tokens = 3000) {
  Matcher m(c);
  const TokenVocab& v = *c->vocab;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(0.0f, 3.0f);
  std::vector<uint64_t> mask(v.mask_words());
  std::vector<int32_t> allowed;
  Sampled out;
  for (; out.tokens < max_tokens; ++out.tokens) {
    if (m.must_end()) {
      out.finished = true;
      return out;
    }
    m.fill_mask(mask.data());
    allowed.clear();
    for (size_t w = 0; w < mask.size(); ++w)
      for (uint64_t bits = mask[w]; bits; bits &= bits - 1)
        allowed.push_back(static_cast<int32_t>(w * 64 + __builtin_ctzll(bits)));
    EXPECT_FALSE(allowed.empty()) << "no token allowed after: " << out.text;
    if (allowed.empty()) return out;
    std::vector<std::pair<int32_t, float>> cand;
    for (size_t k = 0; k < std::min<size_t>(allowed.size(), 256); ++k) {
      const int32_t id = allowed.size() <= 256 ? allowed[k] : allowed[rng() % allowed.size()];
      float logit = noise(rng);
      if (v.text(id).find_first_of("\"]}") != std::string::npos) logit += close_bias;
      cand.emplace_back(id, logit);
    }
    int32_t pick = cand[0].first;
    if (temperature <= 0) {
      float best = -INFINITY;
      for (auto& [id, l] : cand)
        if (l > best) best = l, pick = id;
    } else {
      double total = 0;
      for (auto& [id, l] : cand) total += std::exp(l / temperature);
      double u = std::uniform_real_distribution<double>(0, total)(rng);
      for (auto& [id, l] : cand) {
        u -= std::exp(l / temperature);
        pick = id;
        if (u <= 0) break;
      }
    }
    EXPECT_TRUE(m.accept(pick)) << "the mask allowed a token the matcher refuses: " << pick;
    if (std::find(v.eog().begin(), v.eog().end(), pick) != v.eog().end()) {
      out.finished = true;
      return out;
    }
    out.text += v.text(pick);
  }
  return out;
}

}  // namespace hangar::grammar::testing
