// llama.cpp's own prompt tokens and completion text (golden/completions) against the
// tokenizers of the shared model files.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_test_util.h"

namespace hangar {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> golden_files() {
  std::vector<fs::path> files;
  const std::string dir = std::string(HANGAR_SHARED_DIR) + "/golden/completions";
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

const Tokenizer& load_model_tokenizer(const std::string& model) {
  return testing::tokenizer_from_file(std::string(HANGAR_SHARED_DIR) + "/models/" + model);
}

TEST(GoldenCompletions, CoverEveryModel) { EXPECT_GE(golden_files().size(), 8u); }

// The server tokenized each prompt with BOS as the vocabulary asks and special tokens parsed.
TEST(GoldenCompletions, PromptTokensMatchLlamaCpp) {
  for (const auto& path : golden_files()) {
    const auto golden = nlohmann::json::parse(testing::read_file(path.string()));
    const Tokenizer& tok = load_model_tokenizer(golden["model"]);
    for (const auto& c : golden["cases"]) {
      const std::string prompt = c["prompt"];
      EXPECT_EQ(tok.encode(prompt, true, true), c["prompt_tokens"].get<std::vector<TokenId>>())
          << path.filename() << ": '" << prompt << "'";
    }
  }
}

// The server's "content" is the generated pieces run together, leading spaces kept, with a
// trailing incomplete UTF-8 sequence shown as U+FFFD: what the streaming detokenizer gives.
TEST(GoldenCompletions, StreamedTextMatchesLlamaCppContent) {
  int checked = 0;
  for (const auto& path : golden_files()) {
    const auto golden = nlohmann::json::parse(testing::read_file(path.string()));
    const Tokenizer& tok = load_model_tokenizer(golden["model"]);
    for (const auto& c : golden["cases"]) {
      StreamingDetokenizer stream(tok);
      std::string text;
      for (TokenId id : c["completion_tokens"].get<std::vector<TokenId>>()) text += stream.push(id);
      text += stream.flush();
      EXPECT_EQ(text, c["content"].get<std::string>()) << path.filename();
      ++checked;
    }
  }
  EXPECT_GE(checked, 50);
}

}  // namespace
}  // namespace hangar
