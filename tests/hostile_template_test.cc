// Hostile chat templates through the real server: GGUFs written with the project's writer from a
// shared model's tensors, each carrying a template that spins, hogs memory or refuses to render.
// Every request to them fails cleanly (an error naming the budget), and the same server keeps
// answering requests for a well-behaved model meanwhile and afterwards.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "process_util.h"

namespace hangar {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Spins for 10^12 iterations, repeats '' 9.2e18 times, or keeps 100,000 strings of 1 MB when a
// message says so; renders normally otherwise, so it passes the probes run at load.
const char* const kTriggeredTemplate =
    "{%- for m in messages -%}"
    "{%- if m.content == 'spin' -%}{{ '' * 9223372036854775807 }}"
    "{%- for i in range(1000000) -%}{%- for j in range(1000000) -%}{%- endfor -%}{%- endfor -%}{%- endif -%}"
    "{%- if m.content == 'hog' -%}{%- set ns = namespace(l=[]) -%}{%- set s = 'x' * 1000000 -%}"
    "{%- for i in range(100000) -%}{%- do ns.l.append(s ~ i) -%}{%- endfor -%}{%- endif -%}"
    "{%- if m.content == 'wide' -%}{{ 'a' | center(4000000000) }}{%- endif -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}";

// Exceeds its budget on any conversation: refused when first used.
const char* const kAlwaysHostileTemplate =
    "{% for a in range(1000000) %}{% for b in range(1000000) %}{{ a }}{% endfor %}{% endfor %}";

// Copies `src`'s metadata and tensors into `dst` with another chat template.
void write_with_template(const gguf::File& src, const std::string& dst, const std::string& chat_template) {
  gguf::Writer w;
  for (const auto& [key, value] : src.metadata()) {
    if (key != "general.alignment") w.set(key, value);
  }
  w.set("tokenizer.chat_template", gguf::Value::string(chat_template));
  for (const auto& t : src.tensors()) {
    w.add_tensor(gguf::TensorSpec{t.name, t.type, t.dims}, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
  }
  ASSERT_TRUE(w.write_file(dst).ok());
}

int64_t peak_rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

struct Reply {
  int status = 0;
  Json body;
};

Reply post(int port, const std::string& path, const Json& body) {
  httplib::Client client("127.0.0.1", port);
  // A guard against a hang only: every request here should finish within the render budget.
  client.set_read_timeout(120, 0);
  auto res = client.Post(path, body.dump(), "application/json");
  if (!res) return {-1, Json()};
  return {res->status, Json::parse(res->body, nullptr, false)};
}

Json chat(const std::string& model, const std::string& content, bool completion) {
  Json body = {{"model", model}, {"messages", Json::array({{{"role", "user"}, {"content", content}}})}};
  if (completion) body["max_tokens"] = 2;
  return body;
}

class HostileTemplateServer : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("hangar-hostile-" + std::to_string(getpid()));
    fs::create_directories(root_ / "models");
    const std::string shared_model = std::string(HANGAR_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";
    fs::copy_file(shared_model, root_ / "models" / "benign.gguf");
    auto src = gguf::File::open(shared_model);
    ASSERT_TRUE(src.ok()) << src.error().message();
    write_with_template(*src, (root_ / "models" / "triggered.gguf").string(), kTriggeredTemplate);
    write_with_template(*src, (root_ / "models" / "hostile.gguf").string(), kAlwaysHostileTemplate);
    server_ = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        testing::hangar_binary(), "serve", "--models-dir", (root_ / "models").string(), "--state-dir",
        (root_ / "state").string(), "--host", "127.0.0.1", "--port", "0", "--http-threads", "16"});
    ASSERT_TRUE(server_->wait_for_output("listening on http://127.0.0.1:", 60)) << server_->output();
    std::smatch m;
    const std::string out = server_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("listening on http://127\\.0\\.0\\.1:(\\d+)")));
    port_ = std::stoi(m[1]);
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->output();
    }
    fs::remove_all(root_);
  }

  fs::path root_;
  std::unique_ptr<testing::ChildProcess> server_;
  int port_ = 0;
};

TEST_F(HostileTemplateServer, HostileRequestsFailCleanlyWhileOthersAreServed) {
  // Hostile requests all at once, on more threads than the machine has cores.
  std::vector<std::future<Reply>> hostile;
  for (const char* trigger : {"spin", "hog", "wide", "spin", "hog"}) {
    hostile.push_back(std::async(std::launch::async, post, port_, "/apply-template", chat("triggered", trigger, false)));
  }
  hostile.push_back(std::async(std::launch::async, post, port_, "/v1/chat/completions", chat("triggered", "spin", true)));
  hostile.push_back(std::async(std::launch::async, post, port_, "/apply-template", chat("hostile", "hi", false)));
  hostile.push_back(std::async(std::launch::async, post, port_, "/v1/chat/completions", chat("hostile", "hi", true)));

  // Meanwhile the well-behaved model answers, and so does the triggered one for ordinary text.
  for (int i = 0; i < 3; ++i) {
    const Reply a = post(port_, "/apply-template", chat("benign", "hello", false));
    EXPECT_EQ(a.status, 200) << a.body.dump();
    const Reply c = post(port_, "/v1/chat/completions", chat("benign", "hello", true));
    EXPECT_EQ(c.status, 200) << c.body.dump();
  }
  const Reply fine = post(port_, "/apply-template", chat("triggered", "hello", false));
  EXPECT_EQ(fine.status, 200) << fine.body.dump();
  EXPECT_EQ(fine.body.value("prompt", ""), "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");

  for (auto& f : hostile) {
    const Reply r = f.get();
    ASSERT_NE(r.status, -1) << "no answer (the server hung or died)\n" << server_->output();
    EXPECT_GE(r.status, 400) << r.body.dump();
    const std::string message = r.body["error"].value("message", "");
    EXPECT_TRUE(message.find("budget") != std::string::npos || message.find("exceeded its limits") != std::string::npos)
        << message;
  }
  // A template refused at load is refused again at once: its parse failure is kept.
  const Reply again = post(port_, "/apply-template", chat("hostile", "hi", false));
  EXPECT_EQ(again.status, 500);
  EXPECT_NE(again.body["error"].value("message", "").find("exceeded its limits on a two-message test conversation"),
            std::string::npos);

  const Reply after = post(port_, "/v1/chat/completions", chat("benign", "still there?", true));
  EXPECT_EQ(after.status, 200) << after.body.dump();
  // Eight hostile renders at once stayed within their budgets (64 MB of values each, on a
  // 1.7 MB model); before the budgets, ten such requests took the server to 5.7 GB.
  const int64_t peak_kb = peak_rss_kb(server_->pid());
  EXPECT_GT(peak_kb, 0);
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer keeps freed memory in quarantine
  EXPECT_LT(peak_kb, 1536 * 1024) << "peak RSS " << peak_kb << " KB";
#endif
  std::printf("server peak RSS after the hostile requests: %lld MB\n", static_cast<long long>(peak_kb / 1024));
}

}  // namespace
}  // namespace hangar
