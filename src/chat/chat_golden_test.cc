// Golden test: every template in shared/golden/chat_templates.json renders byte for byte as
// llama.cpp (--jinja) rendered it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

// HANGAR_SHARED_DIR in the environment overrides the built-in path (the discovery check points
// it at a missing directory).
std::string golden_path() {
  const char* env = std::getenv("HANGAR_SHARED_DIR");
  return std::string(env && *env ? env : HANGAR_SHARED_DIR) + "/golden/chat_templates.json";
}

// The golden file, or a discarded value when it is missing or unreadable. Test names are read
// from it while the binary lists its tests, so this must not throw: a missing ../shared is a
// failing test with a message, not a binary that crashes at discovery.
const Json& golden() {
  static const Json j = [] {
    std::ifstream f(golden_path());
    if (!f) return Json(Json::value_t::discarded);
    std::stringstream ss;
    ss << f.rdbuf();
    Json parsed = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    return parsed.is_object() && parsed.contains("templates") && parsed["templates"].is_array()
               ? parsed
               : Json(Json::value_t::discarded);
  }();
  return j;
}

std::tm golden_date() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 26;
  tm.tm_hour = 12;
  tm.tm_wday = 4;  // Thursday
  tm.tm_yday = 329;
  return tm;
}

class GoldenTemplate : public ::testing::TestWithParam<size_t> {};

TEST_P(GoldenTemplate, RendersBothConversationsLikeLlamaCpp) {
  const Json& g = golden();
  ASSERT_FALSE(g.is_discarded()) << "cannot read " << golden_path() << " (is ../shared there?)";
  ASSERT_LT(GetParam(), g["templates"].size()) << "the golden file has fewer templates";
  const Json& t = g["templates"][GetParam()];
  SCOPED_TRACE(t["template"].get<std::string>());
  auto tmpl = ChatTemplate::parse(t["source"].get<std::string>());
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message();
  // Probing used to render every template 3 to 6 times at load.
  EXPECT_LE(tmpl->probe_renders(), 4);
  for (size_t c = 0; c < g["conversations"].size(); ++c) {
    const Json& conv = g["conversations"][c];
    ChatTemplateInputs in;
    in.messages = conv["messages"];
    in.add_generation_prompt = conv["add_generation_prompt"].get<bool>();
    in.bos_token = "<|endoftext|>";
    in.eos_token = "<|endoftext|>";
    in.now = golden_date();
    auto out = tmpl->apply(in);
    ASSERT_TRUE(out.ok()) << "conversation " << c << ": " << out.error().message();
    EXPECT_EQ(*out, t["renders"][c].get<std::string>()) << "conversation " << c;
  }
}

std::string template_name(const ::testing::TestParamInfo<size_t>& info) {
  const Json& g = golden();
  if (g.is_discarded() || info.param >= g["templates"].size() || !g["templates"][info.param].is_object() ||
      !g["templates"][info.param].value("template", Json()).is_string())
    return std::to_string(info.param);
  std::string name = g["templates"][info.param]["template"].get<std::string>();
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return std::to_string(info.param) + "_" + out;
}

INSTANTIATE_TEST_SUITE_P(AllTemplates, GoldenTemplate, ::testing::Range<size_t>(0, 50), template_name);

}  // namespace
}  // namespace hangar::chat
