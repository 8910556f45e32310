// GET / and /ui: the dashboard page, and /ui/<file> its script and style, from the binary itself.
#include <string_view>

#include "api/routes.h"
#include "api/ui_assets.h"

namespace hangar::api {
namespace {

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

const ui::Asset* find_asset(std::string_view name) {
  for (const ui::Asset& a : ui::kAssets)
    if (a.name == name) return &a;
  return nullptr;
}

void send_asset(const ui::Asset& a, httplib::Response& res) {
  // Only our own files may run or style the page: a proof that it works offline, without a CDN.
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(a.bytes), std::string(content_type(a.name)));
}

}  // namespace

bool is_ui_path(std::string_view path) {
  return path == "/" || path == "/ui" || path == "/ui/" || (path.starts_with("/ui/") && find_asset(path.substr(4)));
}

void add_ui_routes(httplib::Server& http, ServerContext&) {
  auto page = [](const httplib::Request&, httplib::Response& res) { send_asset(*find_asset("index.html"), res); };
  http.Get("/", page);
  http.Get("/ui", page);
  http.Get("/ui/", page);
  http.Get(R"(/ui/([A-Za-z0-9_.-]+))", [](const httplib::Request& req, httplib::Response& res) {
    const ui::Asset* a = find_asset(req.matches[1].str());
    if (a == nullptr) return send_error(res, not_found("no dashboard file " + req.path));
    send_asset(*a, res);
  });
}

}  // namespace hangar::api
