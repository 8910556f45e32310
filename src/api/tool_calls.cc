// Tool-call parsing: markers and JSON (or Qwen's XML) of each format, whole and streamed.
#include "api/tool_calls.h"

#include <algorithm>
#include <random>

namespace hangar::api {
namespace {

constexpr std::string_view kHermesOpen = "<tool_call>", kHermesClose = "</tool_call>";
constexpr std::string_view kMistralMarker = "[TOOL_CALLS]", kArgs = "[ARGS]", kCallId = "[CALL_ID]";
constexpr std::string_view kPythonTag = "<|python_tag|>";

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_blank(s.substr(0, 1))) s.remove_prefix(1);
  return s;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_blank(s.substr(s.size() - 1))) s.remove_suffix(1);
  return s;
}

std::string new_call_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

// Where the JSON object or array starting at s[pos] ends (one past its closing bracket), or
// npos when it does not close. Strings and escapes are followed so brackets inside them do not
// count.
size_t json_end(std::string_view s, size_t pos) {
  if (pos >= s.size() || (s[pos] != '{' && s[pos] != '[')) return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

std::optional<Json> parse_json(std::string_view s) {
  Json j = Json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// Arguments as OpenAI sends them: compact JSON text.
std::string arguments_text(const Json& args) {
  if (args.is_null()) return "{}";
  if (args.is_string()) {
    // Some models write the arguments as a JSON string; keep it, normalised when it is JSON.
    std::optional<Json> inner = parse_json(args.get<std::string>());
    return inner && inner->is_object() ? inner->dump() : args.get<std::string>();
  }
  return args.dump();
}

// A call from {"name": ..., "arguments"|"parameters": ...} (also OpenAI's own shape
// {"type": "function", "function": {...}}); nullopt when it is not one.
std::optional<ToolCall> call_from_json(const Json& j) {
  if (!j.is_object()) return std::nullopt;
  const Json* obj = &j;
  if (j.contains("function") && j["function"].is_object()) obj = &j["function"];
  if (!obj->contains("name") || !(*obj)["name"].is_string()) return std::nullopt;
  ToolCall c;
  c.name = (*obj)["name"].get<std::string>();
  if (obj->contains("arguments")) c.arguments = arguments_text((*obj)["arguments"]);
  else if (obj->contains("parameters")) c.arguments = arguments_text((*obj)["parameters"]);
  else c.arguments = "{}";
  c.id = j.contains("id") && j["id"].is_string() && !j["id"].get<std::string>().empty() ? j["id"].get<std::string>()
                                                                                         : new_call_id();
  return c;
}

// The type a tool's parameter is declared with ("" when unknown).
std::string param_type(const Json& tools, const std::string& fn, const std::string& param) {
  if (!tools.is_array()) return "";
  for (const Json& t : tools) {
    const Json* f = t.is_object() && t.contains("function") ? &t["function"] : &t;
    if (!f->is_object() || f->value("name", "") != fn) continue;
    const Json p = f->value("parameters", Json::object());
    if (p.is_object() && p.contains("properties") && p["properties"].contains(param)) {
      const Json& schema = p["properties"][param];
      if (schema.is_object() && schema.contains("type") && schema["type"].is_string())
        return schema["type"].get<std::string>();
    }
  }
  return "";
}

// Qwen's XML call body: <function=name> <parameter=p> value </parameter> ... </function>.
std::optional<ToolCall> call_from_xml(std::string_view body, const Json& tools) {
  body = trim_left(body);
  constexpr std::string_view kFn = "<function=";
  if (body.substr(0, kFn.size()) != kFn) return std::nullopt;
  const size_t name_end = body.find('>');
  if (name_end == std::string_view::npos) return std::nullopt;
  ToolCall c;
  c.name = std::string(body.substr(kFn.size(), name_end - kFn.size()));
  Json args = Json::object();
  size_t pos = name_end + 1;
  constexpr std::string_view kParam = "<parameter=", kParamEnd = "</parameter>";
  for (;;) {
    const size_t p = body.find(kParam, pos);
    if (p == std::string_view::npos) break;
    const size_t pname_end = body.find('>', p);
    const size_t vend = body.find(kParamEnd, pname_end == std::string_view::npos ? p : pname_end);
    if (pname_end == std::string_view::npos || vend == std::string_view::npos) return std::nullopt;
    const std::string pname(body.substr(p + kParam.size(), pname_end - p - kParam.size()));
    std::string_view value = body.substr(pname_end + 1, vend - pname_end - 1);
    if (!value.empty() && value.front() == '\n') value.remove_prefix(1);
    if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
    const std::string type = param_type(tools, c.name, pname);
    std::optional<Json> parsed = type == "string" ? std::nullopt : parse_json(value);
    args[pname] = parsed ? *parsed : Json(std::string(value));
    pos = vend + kParamEnd.size();
  }
  if (!contains(body.substr(pos), "</function>")) return std::nullopt;
  c.arguments = args.dump();
  c.id = new_call_id();
  return c;
}

// Collects content segments between calls: a segment is trimmed where it touches a call.
class Builder {
 public:
  explicit Builder(bool after_call) : after_call_(after_call) {}
  void text(std::string_view s) { pending_ += s; }
  void call(ToolCall c) {
    flush(/*before_call=*/true);
    out_.calls.push_back(std::move(c));
    after_call_ = true;
  }
  ToolParse done() {
    flush(false);
    return std::move(out_);
  }

 private:
  void flush(bool before_call) {
    std::string_view s = pending_;
    if (after_call_) s = trim_left(s);
    if (before_call) s = trim_right(s);
    out_.content += s;
    pending_.clear();
  }
  bool after_call_;
  std::string pending_;
  ToolParse out_;
};

// Hermes and Qwen XML: <tool_call> body </tool_call> blocks (the last may lack its end tag).
void parse_tagged(std::string_view text, const Json& tools, Builder& b) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t s = text.find(kHermesOpen, pos);
    if (s == std::string_view::npos) break;
    const size_t body = s + kHermesOpen.size();
    const size_t e = text.find(kHermesClose, body);
    const size_t next = e == std::string_view::npos ? text.size() : e + kHermesClose.size();
    const std::string_view inner = text.substr(body, (e == std::string_view::npos ? text.size() : e) - body);
    std::optional<ToolCall> call;
    const std::string_view trimmed = trim_right(trim_left(inner));
    if (std::optional<Json> j = parse_json(trimmed)) call = call_from_json(*j);
    if (!call) call = call_from_xml(inner, tools);
    b.text(text.substr(pos, s - pos));
    if (call) b.call(std::move(*call));
    else b.text(text.substr(s, next - s));
    pos = next;
  }
  b.text(text.substr(pos));
}

// After [TOOL_CALLS]: a JSON array (or object) of calls, or name[ARGS]{...} (with an optional
// [CALL_ID]id). Returns where the calls end, or npos when none could be read.
size_t parse_mistral_calls(std::string_view text, size_t pos, Builder& b) {
  std::string_view rest = text.substr(pos);
  const size_t skip = rest.size() - trim_left(rest).size();
  const size_t at = pos + skip;
  if (at < text.size() && (text[at] == '[' || text[at] == '{')) {
    const size_t end = json_end(text, at);
    if (end == std::string_view::npos) return std::string_view::npos;
    std::optional<Json> j = parse_json(text.substr(at, end - at));
    if (!j) return std::string_view::npos;
    std::vector<ToolCall> calls;
    for (const Json& item : j->is_array() ? *j : Json::array({*j})) {
      std::optional<ToolCall> c = call_from_json(item);
      if (!c) return std::string_view::npos;
      calls.push_back(std::move(*c));
    }
    for (auto& c : calls) b.call(std::move(c));
    return end;
  }
  const size_t args = text.find(kArgs, at);
  if (args == std::string_view::npos) return std::string_view::npos;
  std::string name(trim_right(text.substr(at, args - at)));
  std::string id;
  if (const size_t cid = name.find(kCallId); cid != std::string::npos) {
    id = name.substr(cid + kCallId.size());
    name.resize(cid);
  }
  if (name.empty() || name.find_first_of("{}[]\" \n") != std::string::npos) return std::string_view::npos;
  std::string_view after = text.substr(args + kArgs.size());
  const size_t json_at = args + kArgs.size() + (after.size() - trim_left(after).size());
  const size_t end = json_end(text, json_at);
  if (end == std::string_view::npos) return std::string_view::npos;
  std::optional<Json> j = parse_json(text.substr(json_at, end - json_at));
  if (!j) return std::string_view::npos;
  ToolCall c;
  c.name = std::move(name);
  c.arguments = arguments_text(*j);
  c.id = id.empty() ? new_call_id() : id;
  b.call(std::move(c));
  return end;
}

void parse_mistral(std::string_view text, Builder& b) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t m = text.find(kMistralMarker, pos);
    if (m == std::string_view::npos) break;
    b.text(text.substr(pos, m - pos));
    const size_t end = parse_mistral_calls(text, m + kMistralMarker.size(), b);
    if (end == std::string_view::npos) {
      b.text(text.substr(m));  // not calls after all: keep the text
      return;
    }
    pos = end;
  }
  b.text(text.substr(pos));
}

// Llama 3.x: the answer is one or more call objects (separated by ';' or blanks), possibly
// after <|python_tag|>; anything else is content.
void parse_llama(std::string_view text, Builder& b) {
  size_t tag = text.find(kPythonTag);
  std::string_view prefix = tag == std::string_view::npos ? std::string_view() : text.substr(0, tag);
  std::string_view body = tag == std::string_view::npos ? text : text.substr(tag + kPythonTag.size());
  std::vector<ToolCall> calls;
  size_t pos = 0;
  std::string_view b2 = body;
  while (true) {
    const size_t at = pos + (b2.substr(pos).size() - trim_left(b2.substr(pos)).size());
    if (at >= b2.size()) break;
    const size_t end = json_end(b2, at);
    if (end == std::string_view::npos) {
      calls.clear();
      break;
    }
    std::optional<Json> j = parse_json(b2.substr(at, end - at));
    std::optional<ToolCall> c = j ? call_from_json(*j) : std::nullopt;
    if (!c) {
      calls.clear();
      break;
    }
    calls.push_back(std::move(*c));
    pos = end;
    std::string_view tail = trim_left(b2.substr(pos));
    if (!tail.empty() && tail[0] == ';') pos = b2.size() - tail.size() + 1;
  }
  if (calls.empty()) {
    b.text(text);
    return;
  }
  b.text(prefix);
  for (auto& c : calls) b.call(std::move(c));
}

ToolParse parse_with(ToolFormat f, std::string_view text, const Json& tools, bool after_call) {
  Builder b(after_call);
  switch (f) {
    case ToolFormat::kNone: b.text(text); break;
    case ToolFormat::kHermes:
    case ToolFormat::kQwenXml: parse_tagged(text, tools, b); break;
    case ToolFormat::kMistral:
    case ToolFormat::kMistralArgs: parse_mistral(text, b); break;
    case ToolFormat::kLlama3: parse_llama(text, b); break;
    case ToolFormat::kGeneric:
      if (contains(text, kHermesOpen)) parse_tagged(text, tools, b);
      else if (contains(text, kMistralMarker)) parse_mistral(text, b);
      else parse_llama(text, b);
      break;
  }
  return b.done();
}

bool starts_with_json(ToolFormat f) { return f == ToolFormat::kLlama3 || f == ToolFormat::kGeneric; }

}  // namespace

const char* tool_format_name(ToolFormat f) {
  switch (f) {
    case ToolFormat::kNone: return "none";
    case ToolFormat::kHermes: return "hermes";
    case ToolFormat::kQwenXml: return "qwen-xml";
    case ToolFormat::kLlama3: return "llama3-json";
    case ToolFormat::kMistral: return "mistral";
    case ToolFormat::kMistralArgs: return "mistral-args";
    case ToolFormat::kGeneric: return "generic";
  }
  return "";
}

ToolFormat detect_tool_format(std::string_view src, bool renders_tools) {
  if (!renders_tools) return ToolFormat::kNone;
  if (contains(src, "[TOOL_CALLS]")) return contains(src, "[ARGS]") ? ToolFormat::kMistralArgs : ToolFormat::kMistral;
  if (contains(src, "<tool_call>")) {
    return contains(src, "<function=") && contains(src, "<parameter=") ? ToolFormat::kQwenXml : ToolFormat::kHermes;
  }
  if (contains(src, "<|python_tag|>") || contains(src, "\"parameters\": ") ||
      contains(src, "Environment: ipython"))
    return ToolFormat::kLlama3;
  return ToolFormat::kGeneric;
}

std::span<const std::string_view> tool_markers(ToolFormat f) {
  static constexpr std::string_view kTagged[] = {kHermesOpen, kHermesClose};
  static constexpr std::string_view kMistral[] = {kMistralMarker};
  static constexpr std::string_view kMistralArgs[] = {kMistralMarker, kArgs, kCallId};
  static constexpr std::string_view kLlama[] = {kPythonTag};
  static constexpr std::string_view kAny[] = {kHermesOpen, kHermesClose, kMistralMarker, kArgs, kPythonTag};
  switch (f) {
    case ToolFormat::kHermes:
    case ToolFormat::kQwenXml: return kTagged;
    case ToolFormat::kMistral: return kMistral;
    case ToolFormat::kMistralArgs: return kMistralArgs;
    case ToolFormat::kLlama3: return kLlama;
    case ToolFormat::kGeneric: return kAny;
    case ToolFormat::kNone: break;
  }
  return {};
}

ToolParse parse_tool_calls(ToolFormat f, std::string_view text, const Json& tools) {
  return parse_with(f, text, tools, false);
}

ToolParse ToolCallStreamer::push(std::string_view text) {
  ToolParse out;
  if (format_ == ToolFormat::kNone) {
    out.content = std::string(text);
    return out;
  }
  pending_ += text;
  if (!in_calls_) {
    if (!started_) {
      const std::string_view rest = trim_left(pending_);
      if (rest.empty()) return out;  // blanks so far: what follows decides
      started_ = true;
      if (starts_with_json(format_) && rest[0] == '{') {
        in_calls_ = true;  // a JSON answer may be a call: wait for all of it
        return out;
      }
    }
    size_t start = std::string::npos;
    for (std::string_view m : tool_markers(format_))
      if (m != kHermesClose && m != kArgs) start = std::min(start, pending_.find(m));
    if (start != std::string::npos) {
      // Blanks before the marker stay with the calls: they go if a call follows, as in a
      // whole parse, and stay if it turns out not to be one.
      const size_t cut = trim_right(std::string_view(pending_).substr(0, start)).size();
      out.content = pending_.substr(0, cut);
      pending_.erase(0, cut);
      in_calls_ = true;
    } else {
      // Hold back blanks at the end (they go away when a call follows) and what could be the
      // start of a marker.
      size_t keep = pending_.size() - trim_right(pending_).size();
      for (std::string_view m : tool_markers(format_))
        for (size_t n = std::min(m.size() - 1, pending_.size()); n > keep; --n)
          if (pending_.compare(pending_.size() - n, n, m, 0, n) == 0) {
            keep = n;
            break;
          }
      // Blanks just before a partial marker are held with it.
      keep = pending_.size() - trim_right(std::string_view(pending_).substr(0, pending_.size() - keep)).size();
      out.content = pending_.substr(0, pending_.size() - keep);
      pending_.erase(0, pending_.size() - keep);
      return out;
    }
  }
  // Hermes-style blocks go out as soon as they close; other formats wait for the end.
  if ((format_ != ToolFormat::kHermes && format_ != ToolFormat::kQwenXml) || malformed_) return out;
  for (;;) {
    const std::string_view rest = trim_left(pending_);
    if (rest.substr(0, kHermesOpen.size()) != kHermesOpen) break;
    // An end tag cut by the last token's end is searched for again from its start.
    const size_t body = pending_.size() - rest.size() + kHermesOpen.size();
    const size_t from = std::max(body, scanned_ < kHermesClose.size() ? 0 : scanned_ - kHermesClose.size() + 1);
    const size_t close = pending_.find(kHermesClose, from);
    if (close == std::string::npos) {
      scanned_ = pending_.size();
      break;
    }
    const size_t block_end = close + kHermesClose.size();
    ToolParse block = parse_with(format_, std::string_view(pending_).substr(0, block_end), tools_, n_calls_ > 0);
    if (block.calls.empty()) {
      malformed_ = true;  // the end decides what it is
      break;
    }
    n_calls_ += block.calls.size();
    for (auto& c : block.calls) out.calls.push_back(std::move(c));
    out.content += block.content;
    pending_.erase(0, block_end);
    scanned_ = 0;
  }
  return out;
}

ToolParse ToolCallStreamer::finish() {
  ToolParse out;
  if (!in_calls_) {
    out.content = std::move(pending_);
  } else {
    out = parse_with(format_, pending_, tools_, n_calls_ > 0);
    n_calls_ += out.calls.size();
  }
  pending_.clear();
  return out;
}

}  // namespace hangar::api
