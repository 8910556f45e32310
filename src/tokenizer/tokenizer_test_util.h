// Test helpers: loading the shared vocab files and llama.cpp's .inp/.out vectors.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace hangar::testing {

inline std::string vocab_path(const std::string& name) {
  return std::string(HANGAR_SHARED_DIR) + "/vocab/ggml-vocab-" + name + ".gguf";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads (once per process) the tokenizer of a GGUF file; fails the test if it cannot be
// loaded.
inline const Tokenizer& tokenizer_from_file(const std::string& path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(path);
  if (it == cache.end()) {
    auto file = gguf::File::open(path);
    EXPECT_TRUE(file.ok()) << file.error().message();
    auto tok = Tokenizer::from_gguf(*file);
    EXPECT_TRUE(tok.ok()) << tok.error().message();
    it = cache.emplace(path, std::make_unique<Tokenizer>(std::move(tok).value())).first;
  }
  return *it->second;
}

// The tokenizer of a shared vocab file ("llama-spm", "qwen2", ...).
inline const Tokenizer& shared_tokenizer(const std::string& name) {
  return tokenizer_from_file(vocab_path(name));
}

struct VocabCase {
  std::string text;
  std::vector<TokenId> ids;
};

// llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", one
// line of space-separated ids per input.
inline std::vector<VocabCase> read_vocab_cases(const std::string& name) {
  const std::string inp = read_file(vocab_path(name) + ".inp");
  const std::string out = read_file(vocab_path(name) + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0; pos < inp.size();) {
    size_t next = inp.find(sep, pos);
    if (next == std::string::npos) next = inp.size();
    cases.push_back({inp.substr(pos, next - pos), {}});
    pos = next + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  for (auto& c : cases) {
    if (!std::getline(lines, line)) break;
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

}  // namespace hangar::testing
