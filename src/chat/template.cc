// Template: the public parse/render entry points; converts internal RenderErrors to Error.
#include "chat/template.h"

#include <exception>
#include <new>

#include "chat/parser.h"
#include "chat/render_error.h"

namespace hangar::chat {

Result<Template> Template::parse(std::string_view source) {
  try {
    auto program = parse_template(source);
    return Template(std::move(program), std::make_shared<const std::string>(source));
  } catch (const RenderError& e) {
    return Error(e.what());
  } catch (const std::bad_alloc&) {
    return Error("template too large to parse");
  } catch (const std::exception& e) {
    return Error(std::string("template parse failed: ") + e.what());
  }
}

Result<std::string> Template::render(const Value& globals) const { return render(globals, RenderLimits{}); }

Result<std::string> Template::render(const Value& globals, const RenderLimits& limits, RenderStats* stats) const {
  Interpreter interpreter(limits);
  Result<std::string> out = Error("template rendering did not run");
  try {
    out = interpreter.render(*program_, globals);
  } catch (const RenderError& e) {
    out = Error(e.what());
  } catch (const std::bad_alloc&) {
    out = Error("template rendering ran out of memory");
  } catch (const std::exception& e) {
    out = Error(std::string("template rendering failed: ") + e.what());
  }
  if (stats != nullptr) *stats = interpreter.stats();
  return out;
}

}  // namespace hangar::chat
