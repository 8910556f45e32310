// Tests for each sampler stage on small hand-computed distributions.
#include "sampling/stages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace hangar {
namespace {

// Candidates whose softmax is exactly proportional to `weights` (logit = ln weight), ids given.
std::vector<Candidate> from_weights(const std::vector<float>& weights,
                                    const std::vector<TokenId>& ids) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < weights.size(); ++i) c.push_back({ids[i], std::log(weights[i]), 0.0f});
  return c;
}

std::set<TokenId> ids_of(const std::vector<Candidate>& c, size_t n) {
  std::set<TokenId> out;
  for (size_t i = 0; i < n; ++i) out.insert(c[i].id);
  return out;
}

TEST(Penalties, RepeatDividesPositiveAndMultipliesNonPositive) {
  EXPECT_FLOAT_EQ(penalized_logit(3.0f, 1, 1.5f, 0.0f, 0.0f), 2.0f);
  EXPECT_FLOAT_EQ(penalized_logit(-3.0f, 1, 1.5f, 0.0f, 0.0f), -4.5f);
  EXPECT_FLOAT_EQ(penalized_logit(0.0f, 4, 1.5f, 0.0f, 0.0f), 0.0f);
}

TEST(Penalties, FrequencyScalesWithCountPresenceDoesNot) {
  // 2 / 2 - 3 * 0.5 - 0.25
  EXPECT_FLOAT_EQ(penalized_logit(2.0f, 3, 2.0f, 0.5f, 0.25f), -0.75f);
  EXPECT_FLOAT_EQ(penalized_logit(2.0f, 1, 1.0f, 0.5f, 0.25f), 1.25f);
}

TEST(Penalties, UnseenTokenIsUntouched) {
  EXPECT_FLOAT_EQ(penalized_logit(2.0f, 0, 2.0f, 0.5f, 0.25f), 2.0f);
}

TEST(Argmax, PicksHighestAndLowestIdOnTies) {
  const float a[] = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(argmax(a, 4), 1);
  const float b[] = {-INFINITY, -2.0f};
  EXPECT_EQ(argmax(b, 2), 1);
}

TEST(TopK, KeepsKBestSortedWithLowIdTieBreak) {
  const float logits[] = {1.0f, 5.0f, 3.0f, 5.0f, 2.0f};
  std::vector<Candidate> out(5);
  ASSERT_EQ(select_top_k(logits, 5, 3, out.data()), 3u);
  EXPECT_EQ(out[0].id, 1);
  EXPECT_EQ(out[1].id, 3);
  EXPECT_EQ(out[2].id, 2);
  EXPECT_FLOAT_EQ(out[2].logit, 3.0f);
}

TEST(TopK, TieAtTheCutKeepsTheLowerId) {
  const float logits[] = {2.0f, 7.0f, 2.0f, 2.0f};
  std::vector<Candidate> out(2);
  ASSERT_EQ(select_top_k(logits, 4, 2, out.data()), 2u);
  EXPECT_EQ(out[0].id, 1);
  EXPECT_EQ(out[1].id, 0);
}

TEST(TopK, KLargerThanVocabKeepsAllSorted) {
  const float logits[] = {0.0f, -1.0f, 4.0f};
  std::vector<Candidate> out(3);
  ASSERT_EQ(select_top_k(logits, 3, 10, out.data()), 3u);
  EXPECT_EQ(out[0].id, 2);
  EXPECT_EQ(out[1].id, 0);
  EXPECT_EQ(out[2].id, 1);
}

TEST(TopK, MatchesFullSortOnIncreasingInput) {
  // Increasing logits are the heap's worst case: every token replaces the front.
  std::vector<float> logits(1000);
  for (int i = 0; i < 1000; ++i) logits[i] = 0.01f * static_cast<float>(i);
  std::vector<Candidate> out(5);
  select_top_k(logits.data(), 1000, 5, out.data());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[i].id, 999 - i);
}

// Probabilities 0.4, 0.3, 0.2, 0.1 for ids 10, 11, 12, 13.
const std::vector<float> kWeights = {0.4f, 0.3f, 0.2f, 0.1f};
const std::vector<TokenId> kIds = {10, 11, 12, 13};

TEST(TopPSorted, KeepsMinimalPrefixReachingP) {
  struct Case { float p; size_t kept; };
  for (Case k : {Case{0.39f, 1}, Case{0.41f, 2}, Case{0.65f, 2}, Case{0.71f, 3},
                 Case{0.89f, 3}, Case{0.91f, 4}, Case{0.0f, 1}}) {
    auto c = from_weights(kWeights, kIds);
    EXPECT_EQ(top_p_sorted(c, k.p), k.kept) << "p=" << k.p;
  }
}

TEST(TopPUnsorted, KeepsTheSameSetAsTheSortedPrefix) {
  // Same distribution, shuffled: 0.1, 0.3, 0.4, 0.2.
  const std::vector<float> w = {0.1f, 0.3f, 0.4f, 0.2f};
  const std::vector<TokenId> ids = {13, 11, 10, 12};
  struct Case { float p; std::set<TokenId> kept; };
  for (const Case& k : {Case{0.39f, {10}}, Case{0.65f, {10, 11}}, Case{0.71f, {10, 11, 12}},
                        Case{0.91f, {10, 11, 12, 13}}, Case{0.0f, {10}}}) {
    auto c = from_weights(w, ids);
    const size_t n = top_p_unsorted(c, k.p);
    EXPECT_EQ(ids_of(c, n), k.kept) << "p=" << k.p;
  }
}

TEST(TopPUnsorted, TiesAtTheCutKeepLowestIds) {
  // Four tokens of 0.25 each: p=0.6 needs three of them, and the lowest ids win.
  auto c = from_weights({0.25f, 0.25f, 0.25f, 0.25f}, {3, 1, 0, 2});
  const size_t n = top_p_unsorted(c, 0.6f);
  EXPECT_EQ(ids_of(c, n), (std::set<TokenId>{0, 1, 2}));
  auto s = from_weights({0.25f, 0.25f, 0.25f, 0.25f}, {0, 1, 2, 3});
  EXPECT_EQ(top_p_sorted(s, 0.6f), 3u);
}

TEST(TopPUnsorted, AgreesWithSortedOnLargeRandomVocab) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<Candidate> base;
  for (int i = 0; i < 20000; ++i) {
    // Rounded logits give many ties, which exercises the equal-pivot branch.
    base.push_back({i, std::round(normal(rng) * 4.0f) / 4.0f, 0.0f});
  }
  for (float p : {0.05f, 0.3f, 0.5f, 0.9f, 0.99f}) {
    auto sorted = base;
    std::sort(sorted.begin(), sorted.end(), ranks_before);
    const size_t n_ref = top_p_sorted(sorted, p);
    auto unsorted = base;
    const size_t n = top_p_unsorted(unsorted, p);
    EXPECT_EQ(n, n_ref) << "p=" << p;
    EXPECT_EQ(ids_of(unsorted, n), ids_of(sorted, n_ref)) << "p=" << p;
  }
}

TEST(TopPUnsorted, AgreesWithSortedOverWideRangeAndBannedTokens) {
  // Logits spread over ~200 nats put most tokens in the last bucket; p close to 1 moves the
  // cut into it. Banned tokens have weight 0 and must never be needed.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 25.0f);
  std::vector<Candidate> base;
  for (int i = 0; i < 30000; ++i) {
    base.push_back({i, i % 97 == 0 ? -INFINITY : normal(rng), 0.0f});
  }
  for (float p : {0.5f, 0.999f, 0.9999999f}) {
    auto sorted = base;
    std::sort(sorted.begin(), sorted.end(), ranks_before);
    const size_t n_ref = top_p_sorted(sorted, p);
    auto unsorted = base;
    const size_t n = top_p_unsorted(unsorted, p);
    EXPECT_EQ(ids_of(unsorted, n), ids_of(sorted, n_ref)) << "p=" << p;
  }
}

TEST(TopPUnsorted, AllBannedKeepsLowestId) {
  std::vector<Candidate> c = {{5, -INFINITY, 0}, {2, -INFINITY, 0}, {9, -INFINITY, 0}};
  ASSERT_EQ(top_p_unsorted(c, 0.5f), 1u);
  EXPECT_EQ(c[0].id, 2);
}

TEST(MinP, KeepsTokensAboveFractionOfBestInOrder) {
  // Best is 0.5: min_p 0.25 keeps p >= 0.125, min_p 0.35 keeps p >= 0.175.
  const std::vector<float> w = {0.1f, 0.5f, 0.15f, 0.25f};
  const std::vector<TokenId> ids = {0, 1, 2, 3};
  auto c = from_weights(w, ids);
  ASSERT_EQ(min_p_filter(c, 0.25f), 3u);
  EXPECT_EQ(c[0].id, 1);
  EXPECT_EQ(c[1].id, 2);
  EXPECT_EQ(c[2].id, 3);
  c = from_weights(w, ids);
  ASSERT_EQ(min_p_filter(c, 0.35f), 2u);
  EXPECT_EQ(c[0].id, 1);
  EXPECT_EQ(c[1].id, 3);
}

TEST(MinP, AboveOneStillKeepsTheBest) {
  auto c = from_weights({0.2f, 0.8f}, {0, 1});
  ASSERT_EQ(min_p_filter(c, 2.0f), 1u);
  EXPECT_EQ(c[0].id, 1);
}

TEST(Temperature, ScalesLogitsBeforeSoftmax) {
  auto c = from_weights({1.0f, 2.0f, 4.0f}, {0, 1, 2});
  softmax_with_temperature(c, 0.5f);  // weights squared: 1, 4, 16
  EXPECT_NEAR(c[0].p, 1.0 / 21, 1e-6);
  EXPECT_NEAR(c[1].p, 4.0 / 21, 1e-6);
  EXPECT_NEAR(c[2].p, 16.0 / 21, 1e-6);
  softmax_with_temperature(c, 2.0f);  // square roots: 1, sqrt 2, 2
  const double total = 3.0 + std::sqrt(2.0);
  EXPECT_NEAR(c[0].p, 1.0 / total, 1e-6);
  EXPECT_NEAR(c[1].p, std::sqrt(2.0) / total, 1e-6);
  EXPECT_NEAR(c[2].p, 2.0 / total, 1e-6);
}

TEST(Temperature, AllBannedGivesFirstCandidate) {
  std::vector<Candidate> c = {{4, -INFINITY, 0}, {5, -INFINITY, 0}};
  softmax_with_temperature(c, 1.0f);
  EXPECT_EQ(c[0].p, 1.0f);
  EXPECT_EQ(c[1].p, 0.0f);
}

TEST(Draw, InvertsTheCumulativeDistribution) {
  const std::vector<Candidate> c = {{7, 0, 0.2f}, {8, 0, 0.5f}, {9, 0, 0.3f}};
  EXPECT_EQ(draw(c, 0.0), 7);
  EXPECT_EQ(draw(c, 0.19), 7);
  EXPECT_EQ(draw(c, 0.21), 8);
  EXPECT_EQ(draw(c, 0.69), 8);
  EXPECT_EQ(draw(c, 0.71), 9);
  EXPECT_EQ(draw(c, 0.9999999), 9);
}

TEST(Draw, NeverPicksZeroProbability) {
  const std::vector<Candidate> c = {{1, 0, 0.0f}, {2, 0, 1.0f}, {3, 0, 0.0f}};
  EXPECT_EQ(draw(c, 0.0), 2);
  EXPECT_EQ(draw(c, 0.9999999999), 2);
}

}  // namespace
}  // namespace hangar
