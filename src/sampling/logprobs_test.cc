// Tests for full-vocabulary log-probabilities: normalisation, ordering and stability.
#include "sampling/logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hangar {
namespace {

TEST(Logprobs, HandComputedValues) {
  // Weights 1, 2, 3, 2: probabilities 1/8, 2/8, 3/8, 2/8.
  const float logits[] = {0.0f, std::log(2.0f), std::log(3.0f), std::log(2.0f)};
  EXPECT_NEAR(token_logprob(logits, 4, 0), std::log(1.0 / 8), 1e-6);
  EXPECT_NEAR(token_logprob(logits, 4, 2), std::log(3.0 / 8), 1e-6);
  const auto top = top_logprobs(logits, 4, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 2);
  EXPECT_EQ(top[1].first, 1);  // tie with 3: lower id first
  EXPECT_EQ(top[2].first, 3);
  EXPECT_NEAR(top[0].second, std::log(3.0 / 8), 1e-6);
  EXPECT_NEAR(top[1].second, std::log(2.0 / 8), 1e-6);
}

TEST(Logprobs, ProbabilitiesSumToOne) {
  std::vector<float> logits(5000);
  for (int i = 0; i < 5000; ++i) logits[i] = std::sin(0.37f * i) * 6.0f;
  double total = 0.0;
  for (int i = 0; i < 5000; ++i) total += std::exp(token_logprob(logits.data(), 5000, i));
  EXPECT_NEAR(total, 1.0, 1e-5);
  const auto all = top_logprobs(logits.data(), 5000, 5000);
  double total_top = 0.0;
  for (size_t i = 0; i < all.size(); ++i) {
    total_top += std::exp(all[i].second);
    if (i > 0) {
      EXPECT_GE(all[i - 1].second, all[i].second);
    }
  }
  EXPECT_NEAR(total_top, 1.0, 1e-5);
}

TEST(Logprobs, StableForHugeLogits) {
  const float logits[] = {1000.0f, 999.0f, -1000.0f};
  const double norm = std::log(1.0 + std::exp(-1.0));
  EXPECT_NEAR(token_logprob(logits, 3, 0), -norm, 1e-5);
  EXPECT_NEAR(token_logprob(logits, 3, 1), -1.0 - norm, 1e-5);
  EXPECT_TRUE(std::isfinite(token_logprob(logits, 3, 2)));
}

TEST(Logprobs, KClampedAndNonPositiveK) {
  const float logits[] = {0.0f, 1.0f};
  EXPECT_EQ(top_logprobs(logits, 2, 10).size(), 2u);
  EXPECT_TRUE(top_logprobs(logits, 2, 0).empty());
}

TEST(Logprobs, BannedTokenIsMinusInfinity) {
  const float logits[] = {0.0f, -INFINITY};
  EXPECT_NEAR(token_logprob(logits, 2, 0), 0.0f, 1e-7);
  EXPECT_EQ(token_logprob(logits, 2, 1), -INFINITY);
}

}  // namespace
}  // namespace hangar
