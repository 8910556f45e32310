// Quality statistics: log-softmax, perplexity with its standard error, KL divergence, agreement.
#include "quant/quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hangar::quant {
namespace {

std::vector<float> log_probs(std::vector<double> p) {
  std::vector<float> lp;
  for (double x : p) lp.push_back(static_cast<float>(std::log(x)));
  return lp;
}

TEST(Quality, LogSoftmaxNormalises) {
  std::vector<float> x = {1.0f, 2.0f, 3.0f, -INFINITY};
  log_softmax_inplace(x.data(), 4);
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(x[0], 1.0 - std::log(z), 1e-6);
  EXPECT_NEAR(x[2], 3.0 - std::log(z), 1e-6);
  EXPECT_TRUE(std::isinf(x[3]) && x[3] < 0);
}

TEST(Quality, PerplexityOfUniformDistributionIsVocabularySize) {
  QualityAccumulator acc;
  std::vector<float> lp(50, static_cast<float>(-std::log(50.0)));
  for (int t = 0; t < 10; ++t) acc.add(lp.data(), nullptr, 50, t);
  auto s = acc.summary();
  EXPECT_EQ(s.n_tokens, 10);
  EXPECT_NEAR(s.ppl, 50.0, 1e-3);
  EXPECT_NEAR(s.ppl_stderr, 0.0, 1e-9);
  EXPECT_FALSE(s.has_base);
}

// llama-perplexity's estimate: exp(mean) +/- exp(mean) * sqrt(var / (n - 1)).
TEST(Quality, PerplexityStandardErrorByHand) {
  QualityAccumulator acc;
  auto lp = log_probs({0.5, 0.25, 0.25});
  acc.add(lp.data(), nullptr, 3, 0);  // nll ln 2
  acc.add(lp.data(), nullptr, 3, 1);  // nll ln 4
  auto s = acc.summary();
  const double mean = 1.5 * std::log(2.0), sd = 0.5 * std::log(2.0);
  EXPECT_NEAR(s.ppl, std::exp(mean), 1e-5);
  EXPECT_NEAR(s.ppl_stderr, std::exp(mean) * std::sqrt(sd * sd / 1.0), 1e-5);
}

TEST(Quality, KlDivergenceAndTopAgreement) {
  QualityAccumulator acc;
  auto base = log_probs({0.5, 0.5});
  auto same = log_probs({0.5, 0.5});
  auto other = log_probs({0.1, 0.9});
  acc.add(same.data(), base.data(), 2, 0);   // KL 0, argmax 0 == 0
  acc.add(other.data(), base.data(), 2, 0);  // argmax 1 != 0
  auto s = acc.summary();
  ASSERT_TRUE(s.has_base);
  const double kl = 0.5 * std::log(0.5 / 0.1) + 0.5 * std::log(0.5 / 0.9);
  EXPECT_NEAR(s.kl_mean, kl / 2, 1e-6);
  EXPECT_NEAR(s.kl_max, kl, 1e-6);
  EXPECT_NEAR(s.kl_stderr, std::sqrt((kl * kl / 2 - kl * kl / 4) / 1.0), 1e-6);
  EXPECT_NEAR(s.top1_agreement, 0.5, 1e-12);
  EXPECT_NEAR(s.base_ppl, 2.0, 1e-5);
  EXPECT_NEAR(s.ppl, std::exp(0.5 * (std::log(2.0) + std::log(10.0))), 1e-4);
}

TEST(Quality, IdenticalModelsHaveZeroDivergence) {
  QualityAccumulator acc;
  auto lp = log_probs({0.7, 0.2, 0.1});
  for (int i = 0; i < 5; ++i) acc.add(lp.data(), lp.data(), 3, i % 3);
  auto s = acc.summary();
  EXPECT_NEAR(s.kl_mean, 0.0, 1e-12);
  EXPECT_EQ(s.top1_agreement, 1.0);
  EXPECT_NEAR(s.ppl, s.base_ppl, 1e-12);
}

}  // namespace
}  // namespace hangar::quant
