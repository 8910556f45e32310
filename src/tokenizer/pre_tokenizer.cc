// PCRE2-backed pre-tokenizer cascades, one per tokenizer.ggml.pre family.
#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <initializer_list>

#include "base/log.h"
#include "tokenizer/unicode.h"

namespace hangar::tok {
namespace {

// The regexes are llama.cpp's (which are the models' tokenizer.json patterns, with
// "(?i:...)" spelled out as character classes). PCRE2 runs them with Unicode properties.
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+)"
    R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen35 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+)"
    R"(|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kNewlines = R"([\r\n])";
// CJK ideographs, U+0800..U+4E00 (sic, DeepSeek's pattern) and Hangul.
constexpr std::string_view kDeepseekCjk =
    R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
// DeepSeek LLM's cased-letter class, written with escapes so that no editor or
// normalisation can fold the compatibility characters (U+2126, U+212A, ...) it contains.
constexpr std::string_view kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
    R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})"
    R"(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})"
    R"(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})"
    R"(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})"
    R"(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})"
    R"(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
constexpr std::string_view kDeepseekLlmPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr std::string_view kDeepseek3Cjk =
    R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
// llama.cpp runs this pattern over text whose code points were collapsed to category
// bytes, and its ASCII symbol list omits '~'; so '~' counts as neither \p{P} nor \p{S}
// there. The (?!~) and (?:~|...) spell that out for PCRE2.
constexpr std::string_view kDeepseek3Main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|(?:~|[^\r\n\p{L}\p{P}\p{S}])?[\p{L}\p{M}]+)"
    R"(| ?(?:(?!~)[\p{P}\p{S}])+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kPoro = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

enum class Cascade {
  kDefault, kLlama3, kGpt2, kStarcoder, kQwen2, kQwen35, kDeepseekLlm, kDeepseekCoder,
  kDeepseek3, kFalcon, kPoro, kViking,
};

std::vector<std::string_view> cascade_regexes(Cascade c) {
  switch (c) {
    case Cascade::kDefault:
      return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
    case Cascade::kLlama3: return {kLlama3};
    case Cascade::kGpt2: return {kGpt2};
    case Cascade::kStarcoder: return {R"(\p{N})", kGpt2};
    case Cascade::kQwen2: return {kQwen2};
    case Cascade::kQwen35: return {kQwen35};
    case Cascade::kDeepseekLlm:
      return {kNewlines, kDeepseekLlmLetters, kDeepseekLlmPunct, R"(\s+$)", kDeepseekCjk,
              R"(\p{N}+)"};
    case Cascade::kDeepseekCoder:
      return {kNewlines, R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"};
    case Cascade::kDeepseek3: return {R"(\p{N}{1,3})", kDeepseek3Cjk, kDeepseek3Main};
    case Cascade::kFalcon: return {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
    case Cascade::kPoro: return {kPoro};
    case Cascade::kViking: return {kPoro, R"(\p{N})"};
  }
  return {};
}

struct PreTypeEntry {
  std::initializer_list<std::string_view> names;
  Cascade cascade;
  PreTypeFlags flags;
};

// Name -> cascade and flags, as llama.cpp's vocab loader maps them. Flags not listed keep
// the BPE defaults (clean_spaces on, no merges bypass, no BOS).
const PreTypeEntry kPreTypes[] = {
    {{"", "default"}, Cascade::kDefault, {}},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
     Cascade::kLlama3, {.ignore_merges = true, .add_bos = true}},
    {{"dbrx", "smaug-bpe"}, Cascade::kLlama3, {}},
    {{"chatglm-bpe", "glm4"}, Cascade::kLlama3, {.no_bos = true}},
    {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
      "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4"},
     Cascade::kGpt2, {}},
    {{"trillion", "granite-docling"}, Cascade::kGpt2, {.clean_spaces = false}},
    {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, Cascade::kStarcoder, {}},
    {{"command-r", "smollm"}, Cascade::kStarcoder, {.clean_spaces = false}},
    {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open"}, Cascade::kQwen2,
     {.clean_spaces = false}},
    {{"stablelm2", "megrez"}, Cascade::kQwen2, {}},
    {{"qwen35"}, Cascade::kQwen35, {.clean_spaces = false}},
    {{"deepseek-llm"}, Cascade::kDeepseekLlm, {.clean_spaces = false}},
    {{"deepseek-coder"}, Cascade::kDeepseekCoder, {.clean_spaces = false}},
    {{"deepseek-v3"}, Cascade::kDeepseek3, {.clean_spaces = false}},
    {{"falcon"}, Cascade::kFalcon, {}},
    {{"poro-chat"}, Cascade::kPoro, {.clean_spaces = false}},
    {{"bloom", "gpt3-finnish"}, Cascade::kPoro, {}},
    {{"viking"}, Cascade::kViking, {.clean_spaces = false}},
};

// The code point the regexes see in place of `cpt`. llama.cpp matches non-ASCII
// whitespace as \v (its std::regex \s only knows ASCII), so literal ranges that contain
// U+3000 etc. do not match it; surrogates and out-of-range values (which its lenient
// decoder can produce) behave as "other", like a private-use character.
uint32_t regex_stand_in(uint32_t cpt) {
  if (cpt < 0x80) return cpt;
  if (is_whitespace(cpt)) return 0x0B;
  if ((cpt >= 0xD800 && cpt <= 0xDFFF) || cpt > kMaxCodepoint) return 0xE000;
  return cpt;
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

}  // namespace

// One compiled pattern (JIT when available). pcre2_code is read-only during matching, so
// a Regex is shared by all threads; match data is per call.
class Regex {
 public:
  static Result<std::unique_ptr<Regex>> compile(std::string_view pattern) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err,
                                     &err_offset, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Error("pre-tokenizer regex does not compile at offset " + std::to_string(err_offset) +
                   ": " + reinterpret_cast<const char*>(msg));
    }
    // Without JIT (unsupported platform) pcre2_match interprets; both give the same matches.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return std::unique_ptr<Regex>(new Regex(code));
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Splits each chunk of `lengths` (code point counts over `subject`) into matches and
  // the gaps between them, appending the new lengths to `out`. `byte_of[i]` is the byte
  // offset of code point i, `cpt_of[b]` the code point at byte offset b.
  void split(const std::string& subject, const std::vector<uint32_t>& byte_of,
             const std::vector<uint32_t>& cpt_of, const std::vector<uint32_t>& lengths,
             std::vector<uint32_t>& out, pcre2_match_data* md) const {
    out.clear();
    uint32_t c0 = 0;
    for (uint32_t len : lengths) {
      const uint32_t b0 = byte_of[c0];
      const auto* chunk = reinterpret_cast<PCRE2_SPTR>(subject.data() + b0);
      const size_t n = byte_of[c0 + len] - b0;
      size_t pos = 0;
      uint32_t done = 0;  // code points of this chunk already emitted
      while (pos < n) {
        int rc = pcre2_match(code_, chunk, n, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // deep backtracking: the interpreter uses the heap
          rc = pcre2_match(code_, chunk, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
        if (rc < 0) {
          if (rc != PCRE2_ERROR_NOMATCH)
            log_warn("pre-tokenizer: regex match failed with PCRE2 error " + std::to_string(rc) +
                     "; keeping the rest of the chunk whole");
          break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = ov[0], me = ov[1];
        if (me == ms) {  // an empty match cannot split anything; step over one code point
          pos = ms + 1;
          while (pos < n && (chunk[pos] & 0xC0) == 0x80) ++pos;
          continue;
        }
        const uint32_t cs = cpt_of[b0 + ms] - c0, ce = cpt_of[b0 + me] - c0;
        if (cs > done) out.push_back(cs - done);
        out.push_back(ce - cs);
        done = ce;
        pos = me;
      }
      if (done < len) out.push_back(len - done);
      c0 += len;
    }
  }

 private:
  explicit Regex(pcre2_code* code) : code_(code) {}
  pcre2_code* code_;
};

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

Result<PreTokenizer> PreTokenizer::create(std::string_view name) {
  for (const PreTypeEntry& entry : kPreTypes) {
    for (std::string_view n : entry.names) {
      if (n != name) continue;
      PreTokenizer pre;
      pre.name_ = std::string(name);
      pre.flags_ = entry.flags;
      for (std::string_view pattern : cascade_regexes(entry.cascade)) {
        auto regex = Regex::compile(pattern);
        if (!regex.ok()) return regex.error().context("pre-tokenizer '" + std::string(name) + "'");
        pre.regexes_.push_back(std::move(regex).value());
      }
      return pre;
    }
  }
  return Error("unsupported pre-tokenizer type '" + std::string(name) +
               "' (tokenizer.ggml.pre); supported: llama-bpe/llama3, qwen2, qwen35, gpt-2, "
               "deepseek-coder, deepseek-llm, deepseek-v3, starcoder, falcon and their aliases");
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  words.clear();
  const std::vector<uint32_t> cpts = decode_utf8_lenient(text);
  if (cpts.empty()) return;

  std::string subject;
  subject.reserve(text.size() + 8);
  std::vector<uint32_t> byte_of(cpts.size() + 1);
  for (size_t i = 0; i < cpts.size(); ++i) {
    byte_of[i] = static_cast<uint32_t>(subject.size());
    append_utf8(subject, regex_stand_in(cpts[i]));
  }
  byte_of[cpts.size()] = static_cast<uint32_t>(subject.size());
  std::vector<uint32_t> cpt_of(subject.size() + 1, 0);
  for (size_t i = 0; i <= cpts.size(); ++i) cpt_of[byte_of[i]] = static_cast<uint32_t>(i);

  MatchData md(pcre2_match_data_create(16, nullptr));
  HANGAR_ASSERT(md != nullptr);
  std::vector<uint32_t> lengths{static_cast<uint32_t>(cpts.size())}, next;
  for (const auto& regex : regexes_) {
    regex->split(subject, byte_of, cpt_of, lengths, next, md.get());
    lengths.swap(next);
  }

  words.reserve(lengths.size());
  size_t c = 0;
  for (uint32_t len : lengths) {
    std::string& word = words.emplace_back();
    for (size_t end = c + len; c < end; ++c) append_utf8(word, cpts[c]);
  }
}

}  // namespace hangar::tok
