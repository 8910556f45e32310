// Golden test: every template in shared/golden/chat_templates.json renders byte for byte as
// llama.cpp (--jinja) rendered it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "chat/chat_template.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

const Json& golden() {
  static const Json j = [] {
    std::ifstream f(std::string(HANGAR_SHARED_DIR) + "/golden/chat_templates.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return Json::parse(ss.str());
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
  std::string name = golden()["templates"][info.param]["template"].get<std::string>();
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return std::to_string(info.param) + "_" + out;
}

INSTANTIATE_TEST_SUITE_P(AllTemplates, GoldenTemplate, ::testing::Range<size_t>(0, 50), template_name);

}  // namespace
}  // namespace hangar::chat
