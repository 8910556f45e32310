// CorsPolicy: --cors-origin parsing and which answers get which Access-Control-* headers.
#include "api/cors.h"

#include <gtest/gtest.h>

namespace hangar::api {
namespace {

std::string header(const HeaderList& h, const std::string& name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return "";
}

TEST(Cors, ListedOriginsAreEchoedAndOthersGetNothing) {
  auto p = CorsPolicy::parse("https://app.example, http://localhost:3000");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_TRUE(p->enabled());
  HeaderList h = p->headers("http://localhost:3000", false, "");
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(header(h, "Vary"), "Origin");
  EXPECT_EQ(header(h, "Access-Control-Allow-Methods"), "");  // only preflights
  EXPECT_EQ(header(p->headers("HTTPS://APP.example", false, ""), "Access-Control-Allow-Origin"), "HTTPS://APP.example");
  EXPECT_TRUE(p->headers("https://evil.example", true, "").empty());
  EXPECT_TRUE(p->headers("", false, "").empty());  // not a cross-origin request
}

TEST(Cors, AnyOriginAndPreflights) {
  auto p = CorsPolicy::parse("*");
  ASSERT_TRUE(p.ok());
  HeaderList h = p->headers("https://whatever.example", true, "authorization, content-type, x-stainless-os");
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(h, "Vary"), "");
  EXPECT_NE(header(h, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(header(h, "Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_EQ(header(h, "Access-Control-Max-Age"), "86400");
}

TEST(Cors, OffByDefaultAndBadOriginsAreNamed) {
  auto off = CorsPolicy::parse("");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->enabled());
  EXPECT_TRUE(off->headers("https://app.example", true, "").empty());
  for (const char* bad : {"app.example", "https://app.example/path", "https://", "ftp//x"}) {
    auto p = CorsPolicy::parse(std::string("http://ok.example,") + bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.error().message().find(bad), std::string::npos) << p.error().message();
  }
}

}  // namespace
}  // namespace hangar::api
