// Golden test: conversations with tools, tool calls and tool results render byte for byte as
// llama.cpp's llama-server (--jinja, /apply-template) rendered them through the shared templates
// (tests/data/tool_render_golden.json, written by tests/data/make_tool_render_golden.mjs).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <vector>

#include "chat/chat_template.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

Json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Json(Json::value_t::discarded);
  std::stringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

std::string shared_dir() {
  const char* env = std::getenv("HANGAR_SHARED_DIR");
  return env && *env ? env : HANGAR_SHARED_DIR;
}

// Read while the binary lists its tests: a missing file must be a failing test, not a crash.
const Json& tool_golden() {
  static const Json j = [] {
    Json g = read_json(HANGAR_TOOL_GOLDEN);
    return g.is_object() && g.contains("cases") && g["cases"].is_array() && g.contains("conversations")
               ? g
               : Json(Json::value_t::discarded);
  }();
  return j;
}

// The templates' sources, by name, from the shared golden set the cases were rendered from.
const Json& template_sources() {
  static const Json j = [] {
    Json by_name = Json::object();
    Json g = read_json(shared_dir() + "/golden/chat_templates.json");
    if (g.is_object() && g.contains("templates") && g["templates"].is_array())
      for (const auto& t : g["templates"]) by_name[t["template"].get<std::string>()] = t["source"];
    return by_name;
  }();
  return j;
}

// Templates that print today's date printed the day the golden set was rendered.
std::tm rendered_on(const std::string& ymd) {
  std::tm tm{};
  std::istringstream in(ymd);
  in >> std::get_time(&tm, "%Y-%m-%d");
  tm.tm_hour = 12;
  std::time_t t = timegm(&tm);  // fills in the weekday and day of year
  gmtime_r(&t, &tm);
  return tm;
}

class ToolGolden : public ::testing::TestWithParam<size_t> {};

TEST_P(ToolGolden, RendersToolConversationLikeLlamaCpp) {
  const Json& g = tool_golden();
  ASSERT_FALSE(g.is_discarded()) << "cannot read " << HANGAR_TOOL_GOLDEN;
  const Json& c = g["cases"][GetParam()];
  const std::string name = c["template_name"].get<std::string>();
  SCOPED_TRACE(name + ", conversation " + c["conversation"].dump());
  ASSERT_TRUE(template_sources().contains(name)) << "no template " << name << " in ../shared/golden";
  auto tmpl = ChatTemplate::parse(template_sources()[name].get<std::string>());
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message();
  const Json& conv = g["conversations"][c["conversation"].get<size_t>()];
  ChatTemplateInputs in;
  in.messages = conv["messages"];
  in.tools = conv["tools"];
  in.add_generation_prompt = conv["add_generation_prompt"].get<bool>();
  in.bos_token = "<|endoftext|>";
  in.eos_token = "<|endoftext|>";
  in.now = rendered_on(g["rendered_on"].get<std::string>());
  auto out = tmpl->apply(in);
  if (c.contains("error")) {
    const std::string error = c["error"].get<std::string>();
    if (error.find("Jinja Exception:") != std::string::npos) {
      // The template's own raise_exception (Llama 3.x allows one call per turn): refuse too.
      EXPECT_FALSE(out.ok()) << "llama.cpp refused it (" << error << "); hangar rendered\n" << (out.ok() ? *out : "");
      return;
    }
    // llama.cpp's Jinja engine cannot read a member of a function value: Command R+ recurses
    // on json_spec.items of an array parameter, which is the dict's items method in Jinja2 too,
    // whose .type is undefined there. llama.cpp refuses the request; hangar renders what Jinja2
    // renders ("List[Union[]]"), so there is nothing of llama.cpp's to compare with.
    EXPECT_NE(error.find("Function has no builtins"), std::string::npos)
        << "a new kind of llama.cpp refusal; check what Jinja2 does: " << error;
    EXPECT_TRUE(out.ok()) << out.error().message();
    return;
  }
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, c["prompt"].get<std::string>());
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  const Json& g = tool_golden();
  if (g.is_discarded() || info.param >= g["cases"].size()) return std::to_string(info.param);
  const Json& c = g["cases"][info.param];
  std::string out = std::to_string(info.param) + "_";
  for (char ch : c.value("template_name", std::string()))
    out.push_back(std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
  return out + "_conv" + std::to_string(c.value("conversation", 0));
}

std::vector<size_t> case_indices() {
  const Json& g = tool_golden();
  std::vector<size_t> out(g.is_discarded() ? 0 : g["cases"].size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllCases, ToolGolden, ::testing::ValuesIn(case_indices()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ToolGolden);

// With the file unreadable there are no cases: this is the test that says so.
TEST(ToolGoldenFile, HasCasesForEveryToolTemplate) {
  const Json& g = tool_golden();
  ASSERT_FALSE(g.is_discarded()) << "cannot read " << HANGAR_TOOL_GOLDEN;
  std::set<std::string> names;
  for (const auto& c : g["cases"]) names.insert(c["template_name"].get<std::string>());
  EXPECT_GE(names.size(), 30u) << "the golden set lost templates";
}

}  // namespace
}  // namespace hangar::chat
