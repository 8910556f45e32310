// Text-based special-token fix-ups (EOT/EOM/FIM detection, end-of-generation set, strip
// attributes), matching what llama.cpp's vocab loader does after reading the ids.
#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "base/log.h"
#include "tokenizer/vocab.h"

namespace hangar::tok {
namespace {

// DeepSeek's fullwidth bar and SentencePiece's space mark, split so that no hex escape
// swallows the letters after it.
#define HANGAR_BAR "\xEF\xBD\x9C"
#define HANGAR_SPC "\xE2\x96\x81"

using Names = std::initializer_list<std::string_view>;
const Names kEotNames = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                         "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
                         "<" HANGAR_BAR "end" HANGAR_SPC "of" HANGAR_SPC "sentence" HANGAR_BAR ">",
                         "<end_of_utterance>"};
const Names kEomNames = {"<|eom_id|>"};
const Names kFimPreNames = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                            "<" HANGAR_BAR "fim" HANGAR_SPC "begin" HANGAR_BAR ">", "<PRE>",
                            HANGAR_SPC "<PRE>", "<|code_prefix|>", "<|prefix|>"};
const Names kFimSufNames = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                            "<" HANGAR_BAR "fim" HANGAR_SPC "hole" HANGAR_BAR ">", "<SUF>",
                            HANGAR_SPC "<SUF>", "<|code_suffix|>", "<|suffix|>"};
const Names kFimMidNames = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                            "<" HANGAR_BAR "fim" HANGAR_SPC "end" HANGAR_BAR ">", "<MID>",
                            HANGAR_SPC "<MID>", "<|code_middle|>", "<|middle|>"};
const Names kFimPadNames = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
const Names kFimRepNames = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
const Names kFimSepNames = {"<|file_sep|>"};
const Names kEogNames = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
                         "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
                         "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
                         "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                         "<" HANGAR_BAR "end" HANGAR_SPC "of" HANGAR_SPC "sentence" HANGAR_BAR ">",
                         "[e~["};
// gpt-oss renders these even when special tokens are hidden.
const Names kAlwaysRendered = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

#undef HANGAR_BAR
#undef HANGAR_SPC

}  // namespace

void detect_special_tokens(Vocab& v) {
  SpecialIds& s = v.special;
  // llama.cpp walks its hash map, so with several candidates it picks an arbitrary one;
  // taking the first name of each list that exists is deterministic and prefers the
  // specific names (<|eot_id|> over <|end_of_text|>).
  const std::pair<TokenId*, Names> detect[] = {
      {&s.eot, kEotNames},         {&s.eom, kEomNames},         {&s.fim_pre, kFimPreNames},
      {&s.fim_suf, kFimSufNames}, {&s.fim_mid, kFimMidNames}, {&s.fim_pad, kFimPadNames},
      {&s.fim_rep, kFimRepNames}, {&s.fim_sep, kFimSepNames},
  };
  for (const auto& [slot, names] : detect) {
    if (*slot != kNoToken) continue;
    for (std::string_view name : names) {
      *slot = v.index.find(name);
      if (*slot != kNoToken) break;
    }
    // A control-looking token that the converter typed as normal is treated as control.
    if (*slot != kNoToken) v.attrs[*slot] |= kAttrControl;
  }

  std::vector<TokenId> eog;
  for (TokenId id : {s.fim_pad, s.fim_rep, s.fim_sep}) {
    if (id != kNoToken) eog.push_back(id);
  }
  for (std::string_view name : kEogNames) {
    const TokenId id = v.index.find(name);
    if (id == kNoToken) continue;
    eog.push_back(id);
    v.attrs[id] |= kAttrControl;
  }
  for (std::string_view name : kAlwaysRendered) {
    const TokenId id = v.index.find(name);
    if (id != kNoToken) v.attrs[id] = kAttrUserDefined;
  }
  for (TokenId id : {s.eos, s.eot, s.eom}) {
    if (id != kNoToken) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());

  auto in_eog = [&](std::string_view name) {
    const TokenId id = v.index.find(name);
    return id != kNoToken && std::binary_search(eog.begin(), eog.end(), id) ? id : kNoToken;
  };
  auto erase = [&](TokenId id) { eog.erase(std::find(eog.begin(), eog.end(), id)); };
  // o200k_harmony and solar-open end a message with <|end|> but continue the turn.
  const TokenId end = in_eog("<|end|>");
  const bool has_call = in_eog("<|call|>") != kNoToken || in_eog("<|calls|>") != kNoToken;
  if (end != kNoToken && has_call &&
      (in_eog("<|return|>") != kNoToken || in_eog("<|flush|>") != kNoToken)) {
    erase(end);
    v.attrs[end] = kAttrUserDefined;
  }
  // Gemma 4 uses </s> as an ordinary token next to <|tool_response>.
  const TokenId eos_s = in_eog("</s>");
  if (eos_s != kNoToken && in_eog("<|tool_response>") != kNoToken) {
    erase(eos_s);
    v.attrs[eos_s] = kAttrNormal;
  }
  v.eog = std::move(eog);
}

void apply_model_attributes(Vocab& v, std::string_view general_name, std::string_view pre) {
  std::string name(general_name);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto contains_any = [](std::string_view s, Names parts) {
    return std::any_of(parts.begin(), parts.end(),
                       [&](std::string_view p) { return s.find(p) != std::string_view::npos; });
  };
  auto set_attr = [&](std::string_view text, uint32_t attr, bool on) {
    const TokenId id = v.index.find(text);
    if (id == kNoToken) return;
    v.attrs[id] = on ? (v.attrs[id] | attr) : (v.attrs[id] & ~attr);
  };
  if (contains_any(pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"})) {
    set_attr("<mask>", kAttrLstrip, true);
  } else if (contains_any(name, {"phi-3", "phi3"})) {
    // Phi-3's special tokens swallow the whitespace after them.
    for (TokenId id : v.special_tokens) v.attrs[id] |= kAttrRstrip;
    set_attr("</s>", kAttrRstrip, true);
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(t, kAttrRstrip, false);
  } else if (contains_any(name, {"modern-bert"})) {
    set_attr("[MASK]", kAttrLstrip, true);
  }
}

}  // namespace hangar::tok
