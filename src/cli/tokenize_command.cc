// `hangar tokenize` and `hangar detokenize`: text <-> token ids with the model's vocabulary.
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "gguf/gguf_file.h"

namespace hangar::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  bool no_bos = false;
  bool special = false;
};

Result<Tokenizer> open_tokenizer(const std::string& path) {
  HANGAR_ASSIGN(gguf::File file, gguf::File::open(path));
  return Tokenizer::from_gguf(file);
}

std::string read_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int tokenize(const TokenizeOptions& o) {
  auto tok = open_tokenizer(o.model_path);
  if (!tok.ok()) return fail(tok.error().message());
  std::vector<TokenId> ids = tok->encode(read_stdin(), !o.no_bos, o.special);
  std::printf("%s\n", nlohmann::json(ids).dump().c_str());
  return 0;
}

int detokenize(const TokenizeOptions& o) {
  auto tok = open_tokenizer(o.model_path);
  if (!tok.ok()) return fail(tok.error().message());
  nlohmann::json j = nlohmann::json::parse(read_stdin(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) return fail("stdin: expected a JSON array of token ids");
  std::vector<TokenId> ids;
  for (const auto& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok->n_vocab())
      return fail("stdin: " + v.dump() + " is not a token id of this vocabulary (0.." +
                  std::to_string(tok->n_vocab() - 1) + ")");
    ids.push_back(v.get<TokenId>());
  }
  std::string text = tok->decode(ids, /*special=*/true);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

void add_tokenize_commands(CLI::App& app, int& exit_code) {
  auto t = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "read text from stdin, print a JSON array of token ids");
  cmd->add_option("-m,--model", t->model_path, "GGUF model or vocabulary file")->required();
  cmd->add_flag("--no-bos", t->no_bos, "do not add the BOS/EOS tokens the vocabulary asks for");
  cmd->add_flag("--special", t->special, "parse special-token texts such as <|im_start|>");
  cmd->callback([t, &exit_code] { exit_code = tokenize(*t); });

  auto d = std::make_shared<TokenizeOptions>();
  CLI::App* dcmd = app.add_subcommand("detokenize", "read a JSON array of token ids from stdin, print the text");
  dcmd->add_option("-m,--model", d->model_path, "GGUF model or vocabulary file")->required();
  dcmd->callback([d, &exit_code] { exit_code = detokenize(*d); });
}

}  // namespace hangar::cli
