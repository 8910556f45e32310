// Tests for the Sampler chain: greedy, bias, penalties, seeds and the sampled distribution.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace hangar {
namespace {

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

std::vector<float> random_logits(int n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Pearson chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& observed, const std::vector<double>& probs, int draws) {
  double chi = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double expected = probs[i] * draws;
    chi += (observed[i] - expected) * (observed[i] - expected) / expected;
  }
  return chi;
}

TEST(Validate, AcceptsDefaultsAndNamesBadFields) {
  EXPECT_TRUE(validate_sampling_params(SamplingParams{}, 100).ok());
  SamplingParams p;
  p.logit_bias = {{100, 1.0f}};
  Status s = validate_sampling_params(p, 100);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("logit_bias"), std::string::npos);
  p = SamplingParams{};
  p.repeat_penalty = 0.0f;
  s = validate_sampling_params(p, 100);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("repeat_penalty"), std::string::npos);
  p = SamplingParams{};
  p.top_p = NAN;
  EXPECT_FALSE(validate_sampling_params(p, 100).ok());
  p = SamplingParams{};
  p.logit_bias = {{3, -INFINITY}};
  EXPECT_TRUE(validate_sampling_params(p, 100).ok());
  p.logit_bias = {{3, INFINITY}};
  EXPECT_FALSE(validate_sampling_params(p, 100).ok());
}

TEST(Sampler, GreedyPicksArgmaxWithLowestIdTieAndKeepsLogits) {
  const std::vector<float> logits = {0.1f, 2.5f, -3.0f, 2.5f, 1.0f};
  const std::vector<float> copy = logits;
  Sampler s(plain(0.0f), 5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits.data()), 1);
  EXPECT_EQ(logits, copy);
}

TEST(Sampler, GreedyHonoursLogitBias) {
  const std::vector<float> logits = {0.1f, 2.5f, -3.0f, 2.4f};
  SamplingParams p = plain(0.0f);
  p.logit_bias = {{1, -INFINITY}};
  EXPECT_EQ(Sampler(p, 4).sample(logits.data()), 3);
  p.logit_bias = {{2, 6.0f}};
  EXPECT_EQ(Sampler(p, 4).sample(logits.data()), 2);
}

TEST(Sampler, BiasBanningAllButOneAlwaysDrawsIt) {
  const auto logits = std::vector<float>{3.0f, 1.0f, 2.0f, 0.0f, 5.0f};
  SamplingParams p = plain(1.5f);
  p.top_p = 0.9f;
  p.min_p = 0.01f;
  for (TokenId id : {0, 1, 3, 4}) p.logit_bias.push_back({id, -INFINITY});
  Sampler s(p, 5);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits.data()), 2);
}

TEST(Sampler, PenaltyArithmeticOverTheHistory) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s(p, 4);
  for (TokenId id : {0, 0, 1, 3}) s.accept(id);
  const float logits[] = {2.0f, -1.0f, 0.5f, 3.0f};
  float out[4];
  s.apply_bias_and_penalties(logits, out);
  EXPECT_FLOAT_EQ(out[0], 2.0f / 2 - 2 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(out[1], -1.0f * 2 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.5f);
  EXPECT_FLOAT_EQ(out[3], 3.0f / 2 - 0.5f - 0.25f);
  // Greedy now prefers token 3 (0.75) over 2 (0.5) and 0 (-0.25).
  EXPECT_EQ(s.sample(logits), 3);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplingParams p = plain(0.0f);
  p.presence_penalty = 1.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 3);
  for (TokenId id : {0, 1, 2}) s.accept(id);  // 0 has left the window
  const float logits[] = {1.0f, 1.0f, 1.0f};
  float out[3];
  s.apply_bias_and_penalties(logits, out);
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  EXPECT_FLOAT_EQ(out[2], 0.0f);
}

TEST(Sampler, PenaltyWholeHistoryAndOff) {
  SamplingParams p = plain(0.0f);
  p.frequency_penalty = 1.0f;
  p.repeat_last_n = -1;
  Sampler whole(p, 2);
  for (int i = 0; i < 100; ++i) whole.accept(0);
  const float logits[] = {0.0f, 0.0f};
  float out[2];
  whole.apply_bias_and_penalties(logits, out);
  EXPECT_FLOAT_EQ(out[0], -100.0f);
  p.repeat_last_n = 0;
  Sampler off(p, 2);
  off.accept(0);
  off.apply_bias_and_penalties(logits, out);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
}

TEST(Sampler, BiasComesBeforePenalties) {
  // Bias turns 1 into -1, so the repeat penalty multiplies: -2 (the other order gives -1.5).
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.logit_bias = {{0, -2.0f}};
  Sampler s(p, 2);
  s.accept(0);
  const float logits[] = {1.0f, 0.0f};
  float out[2];
  s.apply_bias_and_penalties(logits, out);
  EXPECT_FLOAT_EQ(out[0], -2.0f);
}

TEST(Sampler, SameSeedRepeatsDifferentSeedDiffers) {
  const auto logits = random_logits(1000, 3, 1.0f);
  SamplingParams p;  // the default chain
  p.seed = 42;
  Sampler a(p, 1000), b(p, 1000);
  p.seed = 43;
  Sampler c(p, 1000);
  std::vector<TokenId> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(logits.data()));
    tb.push_back(b.sample(logits.data()));
    tc.push_back(c.sample(logits.data()));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  a.reset();
  std::vector<TokenId> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(logits.data()));
  EXPECT_EQ(again, ta);
}

TEST(Sampler, DefaultSeedIsRandom) {
  SamplingParams p;
  Sampler a(p, 10), b(p, 10);
  EXPECT_NE(a.seed(), kRandomSeed);
  EXPECT_NE(a.seed(), b.seed());
}

TEST(Sampler, TemperatureSamplingFollowsSoftmax) {
  const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.7f};
  const float t = 0.7f;
  std::vector<double> probs(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) total += probs[i] = std::exp(logits[i] / t);
  for (double& q : probs) q /= total;
  Sampler s(plain(t), 8);
  const int draws = 100000;
  std::vector<int> counts(8);
  for (int i = 0; i < draws; ++i) ++counts[s.sample(logits.data())];
  // 7 degrees of freedom: 24.32 is the 0.999 quantile.
  EXPECT_LT(chi_square(counts, probs, draws), 24.32);
}

TEST(Sampler, TopKRenormalisesOverTheSurvivors) {
  const std::vector<float> logits = {0.5f, 2.0f, 1.0f, -1.0f, 1.5f, 0.0f};
  SamplingParams p = plain(1.3f);
  p.top_k = 3;  // keeps ids 1, 4, 2
  std::vector<double> probs = {std::exp(2.0 / 1.3), std::exp(1.5 / 1.3), std::exp(1.0 / 1.3)};
  const double total = probs[0] + probs[1] + probs[2];
  for (double& q : probs) q /= total;
  Sampler s(p, 6);
  const int draws = 60000;
  std::vector<int> counts(3);
  for (int i = 0; i < draws; ++i) {
    const TokenId id = s.sample(logits.data());
    ASSERT_TRUE(id == 1 || id == 4 || id == 2) << id;
    ++counts[id == 1 ? 0 : id == 4 ? 1 : 2];
  }
  // 2 degrees of freedom: 13.82 is the 0.999 quantile.
  EXPECT_LT(chi_square(counts, probs, draws), 13.82);
}

TEST(Sampler, TopPThenMinPRenormaliseOverFullVocabPath) {
  // Probabilities 0.1, 0.3, 0.15, 0.25, 0.2 (ids 0..4), top-k off. top_p 0.7 keeps 0.3, 0.25,
  // 0.2; adding min_p 0.7 (p >= 0.21) leaves 0.3 and 0.25.
  std::vector<float> logits;
  for (float w : {0.1f, 0.3f, 0.15f, 0.25f, 0.2f}) logits.push_back(std::log(w));
  SamplingParams p = plain(1.0f);
  p.top_p = 0.7f;
  struct Case { float min_p; std::vector<TokenId> ids; std::vector<double> probs; };
  for (const Case& k : {Case{0.0f, {1, 3, 4}, {0.3 / 0.75, 0.25 / 0.75, 0.2 / 0.75}},
                        Case{0.7f, {1, 3}, {0.3 / 0.55, 0.25 / 0.55}}}) {
    p.min_p = k.min_p;
    Sampler s(p, 5);
    const int draws = 40000;
    std::vector<int> counts(k.ids.size());
    for (int i = 0; i < draws; ++i) {
      const TokenId id = s.sample(logits.data());
      const auto it = std::find(k.ids.begin(), k.ids.end(), id);
      ASSERT_NE(it, k.ids.end()) << id;
      ++counts[it - k.ids.begin()];
    }
    // 0.999 quantiles: 13.82 for 2 degrees of freedom, 10.83 for 1.
    EXPECT_LT(chi_square(counts, k.probs, draws), k.ids.size() == 3 ? 13.82 : 10.83);
  }
}

TEST(Sampler, TopPAndMinPNeverDrawOutsideTheirSets) {
  // 150k tokens, top-k off: exercises the unsorted top-p path at real vocabulary size.
  const int n = 150000;
  const auto logits = random_logits(n, 11, 2.0f);
  std::vector<TokenId> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](TokenId a, TokenId b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  // Reference nucleus for p = 0.5 by a full sort.
  double total = 0.0;
  for (float l : logits) total += std::exp(l - logits[order[0]]);
  std::set<TokenId> nucleus;
  double cum = 0.0;
  for (TokenId id : order) {
    nucleus.insert(id);
    cum += std::exp(logits[id] - logits[order[0]]);
    if (cum >= 0.5 * total) break;
  }
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  Sampler s(p, n);
  std::set<TokenId> seen;
  for (int i = 0; i < 300; ++i) {
    const TokenId id = s.sample(logits.data());
    ASSERT_TRUE(nucleus.count(id)) << id;
    seen.insert(id);
  }
  EXPECT_GT(seen.size(), 10u);  // it samples, not just argmax

  p = plain(1.0f);
  p.min_p = 0.5f;
  Sampler m(p, n);
  const float floor = logits[order[0]] + std::log(0.5f);
  for (int i = 0; i < 300; ++i) ASSERT_GE(logits[m.sample(logits.data())], floor);
}

TEST(SamplerMask, GreedyPicksTheBestAllowedToken) {
  const std::vector<float> logits = {3.0f, 1.0f, 2.5f, 2.5f, -1.0f};
  Sampler s(plain(0.0f), 5);
  const uint64_t allowed = 0b11110;  // not 0
  EXPECT_EQ(s.sample(logits.data(), &allowed), 2);  // tie with 3: the lower id
}

TEST(SamplerMask, DrawsFollowTheSoftmaxOverAllowedTokens) {
  const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.7f};
  const uint64_t allowed = 0b10101101;  // ids 0, 2, 3, 5, 7
  const std::vector<int> ids = {0, 2, 3, 5, 7};
  const float t = 0.9f;
  std::vector<double> probs;
  double total = 0.0;
  for (int id : ids) total += std::exp(logits[id] / t);
  for (int id : ids) probs.push_back(std::exp(logits[id] / t) / total);
  Sampler s(plain(t), 8);
  const int draws = 100000;
  std::vector<int> counts(ids.size());
  for (int i = 0; i < draws; ++i) {
    const TokenId id = s.sample(logits.data(), &allowed);
    auto it = std::find(ids.begin(), ids.end(), id);
    ASSERT_NE(it, ids.end()) << "drew a masked token " << id;
    ++counts[it - ids.begin()];
  }
  // 4 degrees of freedom: 18.47 is the 0.999 quantile.
  EXPECT_LT(chi_square(counts, probs, draws), 18.47);
}

TEST(SamplerMask, SparseMasksFollowTheSoftmaxOverAllowedTokens) {
  // Few allowed tokens in a large vocabulary take the candidate path, not the -inf one.
  const int n = 4096;
  std::vector<float> logits = random_logits(n, 11, 3.0f);
  const std::vector<int> ids = {5, 700, 701, 2048, 4095};
  logits[700] = 10.0f;  // far above the others, but top-k 2 must still count allowed ones only
  std::vector<uint64_t> allowed((n + 63) / 64, 0);
  for (int id : ids) allowed[id >> 6] |= uint64_t{1} << (id & 63);
  const float t = 1.3f;
  std::vector<double> probs;
  double total = 0.0;
  for (int id : ids) total += std::exp(logits[id] / t);
  for (int id : ids) probs.push_back(std::exp(logits[id] / t) / total);
  Sampler s(plain(t), n);
  const int draws = 100000;
  std::vector<int> counts(ids.size());
  for (int i = 0; i < draws; ++i) {
    auto it = std::find(ids.begin(), ids.end(), s.sample(logits.data(), allowed.data()));
    ASSERT_NE(it, ids.end());
    ++counts[it - ids.begin()];
  }
  EXPECT_LT(chi_square(counts, probs, draws), 18.47);
  SamplingParams greedy = plain(0.0f);
  Sampler g(greedy, n);
  EXPECT_EQ(g.sample(logits.data(), allowed.data()), 700);
}

TEST(SamplerMask, AFullMaskDrawsWhatNoMaskDraws) {
  const int n = 5000;
  std::vector<uint64_t> all((n + 63) / 64, ~uint64_t{0});
  for (const auto& [k, p] : std::vector<std::pair<int, float>>{{0, 1.0f}, {40, 1.0f}, {0, 0.9f}, {40, 0.8f}}) {
    SamplingParams params = plain(0.8f);
    params.top_k = k;
    params.top_p = p;
    params.min_p = 0.02f;
    Sampler masked(params, n), plain_sampler(params, n);
    for (uint32_t step = 0; step < 50; ++step) {
      const std::vector<float> logits = random_logits(n, step, 2.0f);
      ASSERT_EQ(masked.sample(logits.data(), all.data()), plain_sampler.sample(logits.data())) << k << " " << p;
    }
  }
}

TEST(SamplerMask, TopKCountsOnlyAllowedTokens) {
  const std::vector<float> logits = {5.0f, 4.0f, 3.0f, 2.0f, 1.0f, 0.0f};
  SamplingParams p = plain(1.0f);
  p.top_k = 2;
  Sampler s(p, 6);
  const uint64_t allowed = 0b111100;  // ids 2..5: top-2 of them are 2 and 3
  std::set<TokenId> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(s.sample(logits.data(), &allowed));
  EXPECT_EQ(seen, (std::set<TokenId>{2, 3}));
}

}  // namespace
}  // namespace hangar
