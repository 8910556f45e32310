// Sequence and PrefixCache block bookkeeping: sharing, copy-on-write, release.
#include <gtest/gtest.h>

#include "engine/prefix_cache.h"
#include "engine/sequence.h"

namespace hangar::engine {
namespace {

model::HParams tiny_hparams() {
  model::HParams hp;
  hp.n_layer = 2;
  hp.n_head = 2;
  hp.n_head_kv = 1;
  hp.head_dim = 4;
  return hp;
}

void fill(Sequence& s, model::KvCache& kv, std::vector<TokenId> tokens) {
  ASSERT_TRUE(s.reserve(kv, s.n_past() + static_cast<int32_t>(tokens.size())).ok());
  for (TokenId t : tokens) {
    // Mark each written position so copies can be checked.
    for (int32_t l = 0; l < 2; ++l)
      kv.k(l, s.blocks()[s.n_past() / kv.block_tokens()], s.n_past() % kv.block_tokens())[0] =
          static_cast<uint16_t>(t);
    s.push(t);
  }
}

TEST(Sequence, ReservesWholeBlocksAndReleasesThem) {
  model::KvCache kv(tiny_hparams(), 8, 4);
  Sequence s;
  fill(s, kv, {1, 2, 3, 4, 5});
  EXPECT_EQ(s.blocks().size(), 2u);
  EXPECT_EQ(kv.n_free_blocks(), 6);
  s.truncate(kv, 3);
  EXPECT_EQ(s.blocks().size(), 1u);
  EXPECT_EQ(kv.n_free_blocks(), 7);
  s.release(kv);
  EXPECT_EQ(kv.n_free_blocks(), 8);
}

TEST(Sequence, BlocksToAppendCountsWhatReserveAllocates) {
  model::KvCache kv(tiny_hparams(), 16, 4);
  Sequence a;
  EXPECT_EQ(a.blocks_to_append(kv, 0), 0);
  EXPECT_EQ(a.blocks_to_append(kv, 9), 3);
  fill(a, kv, {1, 2, 3, 4, 5, 6});  // two blocks, the second half full
  EXPECT_EQ(a.blocks_to_append(kv, 2), 0);
  EXPECT_EQ(a.blocks_to_append(kv, 3), 1);
  // Shared partly filled last block: appending copies it first.
  Sequence b;
  b.share_prefix(kv, a, 6);
  EXPECT_EQ(b.blocks_to_append(kv, 1), 1);
  EXPECT_EQ(b.blocks_to_append(kv, 7), 3);
  for (int32_t n : {1, 7}) {
    const int32_t free_before = kv.n_free_blocks();
    const int32_t predicted = b.blocks_to_append(kv, n);
    Sequence c;
    c.share_prefix(kv, a, 6);
    ASSERT_TRUE(c.reserve(kv, 6 + n).ok());
    EXPECT_EQ(free_before - kv.n_free_blocks(), predicted) << n;
    c.release(kv);
  }
  b.release(kv);
  a.release(kv);
}

TEST(Sequence, FullCacheIsAnErrorNotACrash) {
  model::KvCache kv(tiny_hparams(), 2, 4);
  Sequence s;
  auto st = s.reserve(kv, 9);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("KV cache is full"), std::string::npos);
  s.truncate(kv, 0);
  EXPECT_EQ(kv.n_free_blocks(), 2);
}

TEST(Sequence, SharedPartialBlockIsCopiedBeforeWrite) {
  model::KvCache kv(tiny_hparams(), 8, 4);
  Sequence a;
  fill(a, kv, {10, 11, 12, 13, 14, 15});  // blocks: [10..13] [14,15,_,_]
  Sequence b;
  b.share_prefix(kv, a, 5);               // shares both blocks; position 5 of b will differ
  EXPECT_EQ(kv.ref_count(a.blocks()[1]), 2);
  fill(b, kv, {99});
  EXPECT_NE(b.blocks()[1], a.blocks()[1]);        // copied on write
  EXPECT_EQ(b.blocks()[0], a.blocks()[0]);        // full block still shared
  EXPECT_EQ(kv.k(0, b.blocks()[1], 0)[0], 14);    // the copy kept position 4
  EXPECT_EQ(kv.k(0, b.blocks()[1], 1)[0], 99);
  EXPECT_EQ(kv.k(0, a.blocks()[1], 1)[0], 15);    // a is untouched
  a.release(kv);
  b.release(kv);
  EXPECT_EQ(kv.n_free_blocks(), 8);
}

TEST(PrefixCache, ReusesLongestPrefixAndEvictsLeastRecent) {
  model::KvCache kv(tiny_hparams(), 16, 4);
  PrefixCache cache(kv);
  Sequence a, b;
  fill(a, kv, {1, 2, 3, 4, 5, 6});
  fill(b, kv, {1, 2, 7, 8});
  cache.put(std::move(a));
  cache.put(std::move(b));
  Sequence c;
  EXPECT_EQ(cache.reuse({1, 2, 3, 4, 9}, 4, {}, c), 4);
  EXPECT_EQ(c.tokens(), (std::vector<TokenId>{1, 2, 3, 4}));
  c.release(kv);
  // {1,2,3,...} was used last, so {1,2,7,8} goes first.
  ASSERT_TRUE(cache.evict_one());
  Sequence d;
  EXPECT_EQ(cache.reuse({1, 2, 7, 8, 9}, 4, {}, d), 2);
  d.release(kv);
  cache.clear();
  EXPECT_EQ(kv.n_free_blocks(), 16);
}

TEST(PrefixCache, NewEntryReplacesItsOwnPrefixes) {
  model::KvCache kv(tiny_hparams(), 16, 4);
  PrefixCache cache(kv);
  Sequence a, b;
  fill(a, kv, {1, 2, 3});
  fill(b, kv, {1, 2, 3, 4, 5});
  cache.put(std::move(a));
  cache.put(std::move(b));
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace hangar::engine
