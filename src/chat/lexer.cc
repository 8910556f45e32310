// Template lexer (see lexer.h). Whitespace rules follow Jinja2 with trim_blocks=True and
// lstrip_blocks=True, which is how HF transformers and llama.cpp compile chat templates.
#include "chat/lexer.h"

#include <cctype>
#include <cstdint>

#include "chat/render_error.h"
#include "chat/text_util.h"

namespace hangar::chat {
namespace {

enum class TagKind { kNone, kVar, kBlock, kComment };

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Normalise line endings and drop one trailing newline (keep_trailing_newline=False).
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_.push_back(source[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Token> run() {
    TagKind prev_kind = TagKind::kNone;
    bool prev_rstrip = false;   // previous tag closed with "-"
    bool prev_keep_nl = false;  // previous block closed with "+" (no trim_blocks)
    while (pos_ < src_.size()) {
      const size_t text_start = pos_;
      size_t tag = find_tag_start(pos_);
      std::string text = src_.substr(text_start, tag - text_start);
      TagKind next_kind = TagKind::kNone;
      bool next_lstrip = false;
      bool next_plus = false;
      if (tag < src_.size()) {
        const char c = src_[tag + 1];
        next_kind = c == '{' ? TagKind::kVar : (c == '%' ? TagKind::kBlock : TagKind::kComment);
        if (tag + 2 < src_.size()) {
          next_lstrip = src_[tag + 2] == '-';
          next_plus = src_[tag + 2] == '+';
        }
      }
      apply_whitespace_control(text, text_start, prev_kind, prev_rstrip, prev_keep_nl, next_kind, next_lstrip,
                               next_plus);
      if (!text.empty()) push(Token::Kind::kText, std::move(text), text_start);
      if (tag >= src_.size()) break;
      pos_ = tag;
      prev_kind = next_kind;
      if (next_kind == TagKind::kComment) {
        lex_comment(prev_rstrip, prev_keep_nl);
      } else if (next_kind == TagKind::kBlock && try_lex_raw(prev_rstrip, prev_keep_nl)) {
        prev_kind = TagKind::kBlock;
      } else {
        lex_tag(next_kind, prev_rstrip, prev_keep_nl);
      }
    }
    push(Token::Kind::kEof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  // Position of the next "{{", "{%" or "{#" at or after `from`, or src_.size().
  size_t find_tag_start(size_t from) const {
    size_t p = from;
    while (true) {
      p = src_.find('{', p);
      if (p == std::string::npos || p + 1 >= src_.size()) return src_.size();
      const char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      ++p;
    }
  }

  void apply_whitespace_control(std::string& text, size_t text_start, TagKind prev_kind, bool prev_rstrip,
                                bool prev_keep_nl, TagKind next_kind, bool next_lstrip, bool next_plus) {
    if (next_lstrip) {
      size_t e = text.size();
      while (e > 0 && is_ws(text[e - 1])) --e;
      text.resize(e);
    } else if ((next_kind == TagKind::kBlock || next_kind == TagKind::kComment) && !next_plus) {
      // lstrip_blocks: drop spaces/tabs between the start of the line and the tag.
      size_t e = text.size();
      while (e > 0 && (text[e - 1] == ' ' || text[e - 1] == '\t')) --e;
      const bool line_start = e > 0 ? text[e - 1] == '\n' : (text_start == 0 || src_[text_start - 1] == '\n');
      if (line_start) text.resize(e);
    }
    if (prev_rstrip) {
      size_t b = 0;
      while (b < text.size() && is_ws(text[b])) ++b;
      text.erase(0, b);
    } else if ((prev_kind == TagKind::kBlock || prev_kind == TagKind::kComment) && !prev_keep_nl &&
               !text.empty() && text[0] == '\n') {
      text.erase(0, 1);  // trim_blocks
    }
  }

  void lex_comment(bool& rstrip, bool& keep_nl) {
    const size_t start = pos_;
    const size_t end = src_.find("#}", pos_ + 2);
    if (end == std::string::npos) throw error_at(start, "unterminated comment: expected '#}'");
    rstrip = end > pos_ + 2 && src_[end - 1] == '-';
    keep_nl = end > pos_ + 2 && src_[end - 1] == '+';
    pos_ = end + 2;
  }

  // Handles {% raw %}...{% endraw %}; returns false when the block is not "raw".
  bool try_lex_raw(bool& rstrip, bool& keep_nl) {
    size_t p = pos_ + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    bool open_rstrip = false;
    if (p < src_.size() && src_[p] == '-') {
      open_rstrip = true;
      ++p;
    }
    if (src_.compare(p, 2, "%}") != 0) return false;
    p += 2;
    // Find "{%-? endraw -?%}".
    size_t q = p;
    while (true) {
      q = src_.find("{%", q);
      if (q == std::string::npos) throw error_at(pos_, "unterminated raw block: expected '{% endraw %}'");
      size_t r = q + 2;
      const bool close_lstrip = r < src_.size() && src_[r] == '-';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ++r;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") == 0) {
        r += 6;
        while (r < src_.size() && is_ws(src_[r])) ++r;
        bool end_rstrip = false;
        if (r < src_.size() && src_[r] == '-') {
          end_rstrip = true;
          ++r;
        }
        if (src_.compare(r, 2, "%}") == 0) {
          std::string text = src_.substr(p, q - p);
          if (open_rstrip) {
            size_t b = 0;
            while (b < text.size() && is_ws(text[b])) ++b;
            text.erase(0, b);
          }
          if (close_lstrip) {
            size_t e = text.size();
            while (e > 0 && is_ws(text[e - 1])) --e;
            text.resize(e);
          }
          if (!text.empty()) push(Token::Kind::kText, std::move(text), p);
          rstrip = end_rstrip;
          keep_nl = false;
          pos_ = r + 2;
          return true;
        }
      }
      q += 2;
    }
  }

  void lex_tag(TagKind kind, bool& rstrip, bool& keep_nl) {
    const size_t tag_start = pos_;
    push(kind == TagKind::kVar ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", pos_);
    pos_ += 2;
    if (pos_ < src_.size() && (src_[pos_] == '-' || src_[pos_] == '+')) ++pos_;
    const char close = kind == TagKind::kVar ? '}' : '%';
    int depth = 0;
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) {
        throw error_at(tag_start, std::string("unterminated tag: expected '") + close + "}'");
      }
      const char c = src_[pos_];
      if (depth == 0) {
        // "-}}", "+%}", "}}" and "%}" close the tag.
        size_t p = pos_;
        bool minus = false;
        bool plus = false;
        if ((c == '-' || c == '+') && p + 2 < src_.size() + 0 && src_[p + 1] == close && src_[p + 2] == '}') {
          minus = c == '-';
          plus = c == '+';
          ++p;
        }
        if (p + 1 < src_.size() && src_[p] == close && src_[p + 1] == '}') {
          push(kind == TagKind::kVar ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", p);
          rstrip = minus;
          keep_nl = plus;
          pos_ = p + 2;
          return;
        }
      }
      if (c == '\'' || c == '"') {
        lex_string();
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        const size_t s = pos_;
        while (pos_ < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
          ++pos_;
        }
        push(Token::Kind::kName, src_.substr(s, pos_ - s), s);
      } else {
        lex_operator(depth);
      }
    }
  }

  void lex_operator(int& depth) {
    static const char* const kTwo[] = {"**", "//", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        push(Token::Kind::kOp, op, pos_);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    static const std::string kSingle = "+-*/%~<>=()[]{},.:|";
    if (kSingle.find(c) == std::string::npos) {
      throw error_at(pos_, std::string("unexpected character '") + c + "' in tag");
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    push(Token::Kind::kOp, std::string(1, c), pos_);
    ++pos_;
  }

  void lex_number() {
    const size_t s = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
        ++pos_;
      }
    };
    digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        is_float = true;
        pos_ = p;
        digits();
      }
    }
    std::string text;
    for (size_t i = s; i < pos_; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    push(is_float ? Token::Kind::kFloat : Token::Kind::kInt, std::move(text), s);
  }

  void lex_string() {
    const size_t s = pos_;
    const char quote = src_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) throw error_at(s, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) throw error_at(s, "unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case '0':
          out.push_back('\0');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (pos_ + static_cast<size_t>(n) > src_.size())
            throw error_at(pos_, "truncated \\" + std::string(1, e) + " escape");
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const char h = src_[pos_++];
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
              throw error_at(pos_ - 1, "invalid hex digit in \\" + std::string(1, e) + " escape");
            }
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                     ? h - '0'
                                                     : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF) throw error_at(pos_, "escape is not a valid code point");
          append_utf8(out, cp);
          break;
        }
        default:
          // Python keeps unknown escapes verbatim.
          out.push_back('\\');
          out.push_back(e);
      }
    }
    push(Token::Kind::kString, std::move(out), s);
  }

  void push(Token::Kind kind, std::string text, size_t offset) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    line_col(offset, t.line, t.column);
    tokens_.push_back(std::move(t));
  }

  void line_col(size_t offset, int& line, int& col) {
    // Tokens arrive in order, so advance a cursor instead of rescanning.
    if (offset < cursor_) {
      cursor_ = 0;
      cursor_line_ = 1;
      cursor_col_ = 1;
    }
    while (cursor_ < offset && cursor_ < src_.size()) {
      if (src_[cursor_] == '\n') {
        ++cursor_line_;
        cursor_col_ = 1;
      } else {
        ++cursor_col_;
      }
      ++cursor_;
    }
    line = cursor_line_;
    col = cursor_col_;
  }

  RenderError error_at(size_t offset, const std::string& what) {
    int line = 1;
    int col = 1;
    line_col(offset, line, col);
    return RenderError("template syntax error at line " + std::to_string(line) + ", column " +
                       std::to_string(col) + ": " + what);
  }

  std::string src_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  size_t cursor_ = 0;
  int cursor_line_ = 1;
  int cursor_col_ = 1;
};

}  // namespace

std::vector<Token> tokenize_template(std::string_view source) { return Lexer(source).run(); }

}  // namespace hangar::chat
