// Fuzz targets for model files: the GGUF reader on mutated bytes, and the tokenizer on
// vocabularies mutated entry by entry (then loaded and used to encode and decode).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "fuzz_targets.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace hangar::fuzz {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string written(gguf::Writer& w, const std::string& path) {
  if (!w.write_file(path).ok()) return {};
  return read_bytes(path);
}

// A small file with every value type, nested arrays and a few tensors of common types.
std::string synthetic_gguf(const std::string& scratch) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("general.name", gguf::Value::string("fuzz seed"));
  w.set("u8", gguf::Value::u8(7));
  w.set("i16", gguf::Value::i16(-3));
  w.set("u64", gguf::Value::u64(1ull << 40));
  w.set("f64", gguf::Value::f64(0.5));
  w.set("flag", gguf::Value::boolean(true));
  w.set("floats", gguf::Value::f32_array({1.0f, -2.5f, 3.0f}));
  w.set("nested", gguf::Value::array(gguf::ValueType::kArray,
                                     {gguf::Value::i32_array({1, 2}), gguf::Value::i32_array({3})}));
  const std::pair<TensorType, std::vector<int64_t>> tensors[] = {
      {TensorType::kF32, {4, 4}}, {TensorType::kF16, {8}}, {TensorType::kQ4_0, {32, 2}},
      {TensorType::kQ8_0, {32}}, {TensorType::kQ4_K, {256}}};
  int i = 0;
  for (const auto& [type, dims] : tensors) {
    gguf::TensorSpec spec{"t" + std::to_string(i++), type, dims};
    std::vector<uint8_t> data(spec.n_bytes());
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 31);
    w.add_tensor(spec, std::move(data));
  }
  return written(w, scratch + "/seed.gguf");
}

// A model's tokenizer metadata with its vocabulary cut to `keep` tokens (merges and special
// ids kept consistent), so that each case loads in milliseconds.
std::string vocab_seed(const std::string& model_path, const std::string& scratch, size_t keep) {
  auto file = gguf::File::open(model_path);
  if (!file.ok()) return {};
  gguf::Writer w;
  std::unordered_set<std::string> kept;
  for (const auto& [key, value] : file->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0 || key == "tokenizer.chat_template") continue;
    const gguf::Array* arr = value.as_array();
    if (key == "tokenizer.ggml.merges" && arr != nullptr) continue;  // after the tokens
    if (arr != nullptr && arr->items.size() > keep) {
      std::vector<gguf::Value> items(arr->items.begin(), arr->items.begin() + static_cast<std::ptrdiff_t>(keep));
      if (key == "tokenizer.ggml.tokens") {
        for (const auto& t : items) kept.insert(*t.as_string());
      }
      w.set(key, gguf::Value::array(arr->element_type, std::move(items)));
    } else if (value.as_int() && key.size() > 9 && key.compare(key.size() - 9, 9, "_token_id") == 0 &&
               static_cast<size_t>(*value.as_int()) >= keep) {
      w.set(key, gguf::Value::u32(1));
    } else {
      w.set(key, value);
    }
  }
  if (const gguf::Value* merges = file->find("tokenizer.ggml.merges"); merges && merges->as_array()) {
    std::vector<std::string> ok;
    for (const auto& m : merges->as_array()->items) {
      const std::string& s = *m.as_string();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) continue;
      const std::string a = s.substr(0, sp), b = s.substr(sp + 1);
      if (kept.count(a) && kept.count(b) && kept.count(a + b)) ok.push_back(s);
    }
    w.set("tokenizer.ggml.merges", gguf::Value::string_array(ok));
  }
  return written(w, scratch + "/vocab_seed.gguf");
}

// Replaces one tokenizer value with something a hostile file could hold.
gguf::Value mutate_value(Mutator& m, const std::string& key, const gguf::Value& v) {
  if (const gguf::Array* arr = v.as_array()) {
    std::vector<gguf::Value> items = arr->items;
    const int edits = 1 + static_cast<int>(m.below(8));
    for (int e = 0; e < edits && !items.empty(); ++e) {
      gguf::Value& item = items[m.below(items.size())];
      if (const std::string* s = item.as_string()) {
        std::string t = *s;
        m.mutate(t, *items[m.below(items.size())].as_string(), 3);
        // A few KB at most: the quadratic load of 30 KB tokens is a known finding.
        if (t.size() > 4096) t.resize(4096);
        item = gguf::Value::string(t);
      } else if (item.is_float()) {
        const double specials[] = {std::nan(""), INFINITY, -INFINITY, 1e38, -1e38, 0.0};
        item = gguf::Value::f32(static_cast<float>(specials[m.below(std::size(specials))]));
      } else {
        item = gguf::Value::i32(static_cast<int32_t>(m.interesting()));
      }
    }
    if (m.one_in(6)) items.resize(m.below(items.size() + 1));
    if (m.one_in(6) && !items.empty()) items.push_back(items[m.below(items.size())]);
    return gguf::Value::array(arr->element_type, std::move(items));
  }
  if (v.as_string() != nullptr) {
    static const char* const kNames[] = {"llama", "gpt2", "bert", "t5", "rwkv", "none", "", "default",
                                         "qwen2", "llama3", "smaug-bpe", "\xff"};
    if (m.one_in(2)) return gguf::Value::string(kNames[m.below(std::size(kNames))]);
    std::string s = *v.as_string();
    m.mutate(s, key);
    return gguf::Value::string(s);
  }
  if (v.as_bool()) return gguf::Value::boolean(!*v.as_bool());
  return m.one_in(2) ? gguf::Value::i64(static_cast<int64_t>(m.interesting()))
                     : gguf::Value::u32(static_cast<uint32_t>(m.interesting()));
}

Target gguf_target(const std::string& shared, const std::string& scratch) {
  Target t;
  t.name = "gguf";
  t.seeds.push_back(synthetic_gguf(scratch));
  t.seeds.push_back(vocab_seed(shared + "/models/llama-2-tiny-random.gguf", scratch, 300));
  t.dictionary = {"GGUF", std::string("\x03\x00\x00\x00", 4), std::string("\x08\x00\x00\x00", 4),
                  std::string("\x09\x00\x00\x00", 4), "general.alignment", "tokenizer.ggml.tokens"};
  const std::string path = scratch + "/case.gguf";
  t.run = [path](const std::string& input) -> std::string {
    write_bytes(path, input);
    auto file = gguf::File::open(path);
    if (!file.ok()) return {};
    // Touch everything the reader promised is in bounds.
    for (const auto& [key, value] : file->metadata()) (void)value.to_display();
    uint64_t sum = 0;
    for (const auto& tensor : file->tensors()) {
      if (tensor.n_bytes > 0) sum += tensor.data[0] + tensor.data[tensor.n_bytes - 1];
    }
    return sum == UINT64_MAX ? "impossible checksum" : "";
  };
  return t;
}

Target tokenizer_target(const std::string& shared, const std::string& scratch) {
  Target t;
  t.name = "tokenizer";
  for (const char* model : {"llama-2-tiny-random.gguf", "llama3-d256-q4_k_m.gguf", "qwen2-d256-q4_k_m.gguf"}) {
    std::string seed = vocab_seed(shared + "/models/" + model, scratch, 1500);
    if (!seed.empty()) t.seeds.push_back(std::move(seed));
  }
  t.dictionary = {"<s>", "</s>", "<|im_start|>", "\xe2\x96\x81", "<0x0A>", "\xc4\xa0", " ", "\n"};
  const std::string seed_path = scratch + "/tok_seed.gguf";
  t.generate = [seed_path](Mutator& m, const std::vector<std::string>& seeds) {
    const std::string& seed = seeds[m.below(seeds.size())];
    if (m.one_in(4)) {  // raw bytes now and then: the container around the vocabulary
      std::string bytes = seed;
      m.mutate(bytes, seeds[m.below(seeds.size())]);
      return bytes;
    }
    write_bytes(seed_path, seed);
    auto file = gguf::File::open(seed_path);
    if (!file.ok()) return seed;
    gguf::Writer w;
    for (const auto& [key, value] : file->metadata()) w.set(key, value);
    const int edits = 1 + static_cast<int>(m.below(3));
    for (int e = 0; e < edits; ++e) {
      const auto& [key, value] = file->metadata()[m.below(file->metadata().size())];
      if (m.one_in(10)) {
        w.remove(key);
      } else {
        w.set(key, mutate_value(m, key, value));
      }
    }
    return written(w, seed_path);
  };
  const std::string path = scratch + "/case_tok.gguf";
  t.run = [path](const std::string& input) -> std::string {
    write_bytes(path, input);
    auto file = gguf::File::open(path);
    if (!file.ok()) return {};
    auto tok = Tokenizer::from_gguf(*file);
    if (!tok.ok()) return {};
    const std::string texts[] = {"Hello world", "", " ", "  leading\n\ntrailing  ", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
                                 "<s>[INST] hi [/INST]</s>", "<|im_start|>user\n", "\xff\xfe bad utf8 \xc3",
                                 input.substr(input.size() / 2, 64)};
    for (const auto& text : texts) {
      for (int mode = 0; mode < 4; ++mode) {
        const auto ids = tok->encode(text, mode & 1, mode & 2);
        for (const TokenId id : ids) {
          if (id < 0 || id >= tok->n_vocab()) return "encode produced id " + std::to_string(id) + " outside the vocabulary";
          (void)tok->token_to_piece(id, true);
        }
        (void)tok->decode(ids, mode & 1);
      }
    }
    return {};
  };
  return t;
}

}  // namespace

std::vector<Target> make_file_targets(const std::string& shared_dir, const std::string& scratch_dir) {
  return {gguf_target(shared_dir, scratch_dir), tokenizer_target(shared_dir, scratch_dir)};
}

}  // namespace hangar::fuzz
