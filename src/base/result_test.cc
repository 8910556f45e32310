// Tests for Result/Status and the HANGAR_TRY / HANGAR_ASSIGN propagation macros.
#include "base/result.h"

#include <gtest/gtest.h>

#include "base/tensor_type.h"

namespace hangar {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error("value " + std::to_string(v) + ": expected a positive number");
  return v;
}

Result<int> doubled(int v) {
  HANGAR_ASSIGN(int x, parse_positive(v));
  return 2 * x;
}

Status check(int v) {
  HANGAR_TRY(parse_positive(v));
  return Status::Ok();
}

TEST(Result, PropagatesErrorsAndValues) {
  EXPECT_EQ(doubled(4).value(), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "value -1: expected a positive number");
  EXPECT_TRUE(check(3).ok());
  EXPECT_FALSE(check(0).ok());
  EXPECT_EQ(Error("x").context("file.gguf").message(), "file.gguf: x");
}

TEST(TensorType, KnowsGgmlGeometry) {
  EXPECT_EQ(tensor_type_info(TensorType::kQ4_K).block_bytes, 144);
  EXPECT_EQ(tensor_type_info(TensorType::kQ6_K).block_bytes, 210);
  EXPECT_EQ(tensor_row_bytes(TensorType::kQ8_0, 64), 68);
  EXPECT_FALSE(tensor_type_info(4).has_value());  // a removed ggml type id
  EXPECT_EQ(tensor_type_name(4), "type#4");
  EXPECT_EQ(tensor_type_from_name("Q4_K"), TensorType::kQ4_K);
  EXPECT_FALSE(tensor_type_from_name("q9_9").has_value());
}

}  // namespace
}  // namespace hangar
