// KV-cache decoding: incremental (prefill + decode_step, absorbed MLA over the latent cache) equals a full recompute
// with the expanded MLA of the training forward; slots of different lengths; fork with copy_slot; capacity errors.
#include <gtest/gtest.h>

#include <cstring>

#include "model/model.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::micro_config;

std::unique_ptr<Model> make(ModelConfig c, uint64_t seed) {
  auto m = std::make_unique<Model>(c);
  m->init_weights(seed);
  testing::perturb(*m, seed + 1);
  return m;
}

// logits of every position of one sequence with the training (expanded) forward
std::vector<float> full_logits(Model& m, const std::vector<int32_t>& tok) {
  std::vector<float> l(tok.size() * m.config().vocab_size);
  m.forward(tok.data(), 1, int(tok.size()), l.data());
  return l;
}

void check_incremental(const ModelConfig& c) {
  auto m = make(c, 5);
  const int V = c.vocab_size, T = 12, P = 5;
  auto tok = testing::random_tokens(T, V, 6);
  auto ref = full_logits(*m, tok);
  KVCache cache(c, 3, 32);
  std::vector<float> out(V);
  m->prefill(cache, 1, tok.data(), P, out.data());
  EXPECT_EQ(cache.length(1), P);
  EXPECT_LT(testing::rel_err(out.data(), ref.data() + size_t(P - 1) * V, V), 1e-4) << "prefill";
  for (int t = P; t < T; ++t) {
    const int slot = 1;
    m->decode_step(cache, &slot, &tok[t], 1, out.data());
    EXPECT_LT(testing::rel_err(out.data(), ref.data() + size_t(t) * V, V), 1e-4) << "decode position " << t;
  }
  EXPECT_EQ(cache.length(1), T);
}

TEST(Decode, IncrementalEqualsFullRecomputeLowRankQuery) { check_incremental(micro_config()); }

TEST(Decode, IncrementalEqualsFullRecomputePlainQueryGroupRouting) {
  ModelConfig c = micro_config();
  c.q_lora_rank = 0;
  c.n_routed_experts = 8;
  c.n_group = 4;
  c.topk_group = 2;
  c.num_hidden_layers = 3;
  check_incremental(c);
}

TEST(Decode, BatchedRowsOfDifferentLengthsAndForkedSlots) {
  const ModelConfig c = micro_config();
  auto m = make(c, 7);
  const int V = c.vocab_size;
  auto a = testing::random_tokens(9, V, 8), b = testing::random_tokens(4, V, 9);
  auto ra = full_logits(*m, a), rb = full_logits(*m, b);
  KVCache cache(c, 4, 16);
  std::vector<float> out(2 * V);
  m->prefill(cache, 0, a.data(), 6, out.data());
  m->prefill(cache, 2, b.data(), 2, out.data());
  cache.copy_slot(2, 3);  // fork: slot 3 continues b like slot 2
  // rows: slot 0 at position 6 (a), slot 3 at position 2 (b)
  int slots[2] = {0, 3};
  int32_t next[2] = {a[6], b[2]};
  m->decode_step(cache, slots, next, 2, out.data());
  EXPECT_LT(testing::rel_err(out.data(), ra.data() + 6 * V, V), 1e-4);
  EXPECT_LT(testing::rel_err(out.data() + V, rb.data() + 2 * V, V), 1e-4);
  EXPECT_EQ(cache.length(2), 2);
  EXPECT_EQ(cache.length(3), 3);
  // the original slot 2 is untouched by the fork's step
  const int s2 = 2;
  m->decode_step(cache, &s2, &b[2], 1, out.data());
  EXPECT_LT(testing::rel_err(out.data(), rb.data() + 2 * V, V), 1e-4);
  cache.reset(0);
  EXPECT_EQ(cache.length(0), 0);
}

// The paged cache against the contiguous layout (block_tokens 0 = one block of max_seq_len per slot, the cache
// before paging): the same prefills, forks, multi-row steps, resets and truncations give the same logits bit for bit,
// while the paged one holds only the blocks its lengths need (full blocks shared between forks).
TEST(Decode, PagedCacheIsBitIdenticalToContiguousAndAllocatesPerToken) {
  const ModelConfig c = micro_config();
  auto m = make(c, 21);
  const int V = c.vocab_size;
  KVCache paged(c, 4, 40, 4), flat(c, 4, 40, 0);
  EXPECT_EQ(paged.block_tokens(), 4);
  EXPECT_EQ(flat.block_tokens(), 40);
  auto tok = testing::random_tokens(64, V, 22);
  std::vector<float> lp(4 * V), lf(4 * V);
  auto same = [&](const char* what) {
    ASSERT_EQ(std::memcmp(lp.data(), lf.data(), sizeof(float) * lp.size()), 0) << what;
  };
  auto both_prefill = [&](int slot, int off, int n) {
    m->prefill(paged, slot, tok.data() + off, n, lp.data());
    m->prefill(flat, slot, tok.data() + off, n, lf.data());
  };
  auto both_step = [&](std::vector<int> slots, int off) {
    m->decode_step(paged, slots.data(), tok.data() + off, int(slots.size()), lp.data());
    m->decode_step(flat, slots.data(), tok.data() + off, int(slots.size()), lf.data());
  };
  both_prefill(0, 0, 8);  // exactly two blocks
  same("prefill 8");
  EXPECT_EQ(paged.blocks_in_use(), 2u);
  paged.copy_slot(0, 1);  // both blocks full: shared, nothing copied
  flat.copy_slot(0, 1);
  EXPECT_EQ(paged.blocks_in_use(), 2u);
  both_prefill(2, 10, 6);  // a partly filled second block
  same("prefill 6");
  paged.copy_slot(2, 3);  // the first block shared, the partial one copied
  flat.copy_slot(2, 3);
  EXPECT_EQ(paged.blocks_in_use(), 2u + 3u);
  for (int s = 0; s < 13; ++s) {  // four rows of different lengths, crossing block boundaries
    both_step({3, 0, 1, 2}, 20 + 4 * (s % 8));
    same("decode step");
  }
  // lengths 21, 21, 19, 19 -> 6 + 6 + 5 + 5 blocks, of which the forks still share the first 2 and 1
  EXPECT_EQ(paged.blocks_in_use(), size_t(6 + 6 + 5 + 5 - 2 - 1));
  // truncating a fork back into a shared block, then appending, copies that block (the other slot keeps its values)
  paged.copy_slot(0, 1);
  flat.copy_slot(0, 1);
  paged.set_length(1, 10);
  flat.set_length(1, 10);
  both_step({1}, 40);
  same("append into a block shared before");
  both_step({0}, 41);
  same("the slot it was shared with");
  // reset returns blocks to the pool; the pool does not grow while freed blocks are left
  const size_t pool = paged.n_blocks();
  paged.reset(3);
  flat.reset(3);
  paged.reset_all();
  flat.reset_all();
  EXPECT_EQ(paged.blocks_in_use(), 0u);
  both_prefill(1, 0, 17);
  same("prefill into recycled blocks");
  EXPECT_EQ(paged.n_blocks(), pool);
  EXPECT_EQ(paged.pool_bytes(), pool * 4 * paged.bytes_per_token());
  EXPECT_EQ(flat.pool_bytes(), 4u * 40u * flat.bytes_per_token());  // contiguous: every slot's 40 positions
  EXPECT_THROW(KVCache(c, 1, 8, 6), ConfigError);
}

TEST(Decode, CacheStoresOnlyLatentAndRopeKey) {
  const ModelConfig c = micro_config();
  KVCache cache(c, 1, 8);
  EXPECT_EQ(cache.bytes_per_token(), sizeof(float) * (c.kv_lora_rank + c.qk_rope_head_dim) * c.num_hidden_layers);
  EXPECT_EQ(cache.bytes_per_token(), c.kv_bytes_per_token());
}

TEST(Decode, OverflowIsACapacityError) {
  const ModelConfig c = micro_config();
  auto m = make(c, 3);
  KVCache cache(c, 2, 4);
  auto tok = testing::random_tokens(5, c.vocab_size, 4);
  std::vector<float> out(c.vocab_size);
  EXPECT_THROW(m->prefill(cache, 0, tok.data(), 5, out.data()), CapacityError);
  m->prefill(cache, 0, tok.data(), 4, out.data());
  const int s = 0;
  try {
    m->decode_step(cache, &s, tok.data(), 1, out.data());
    FAIL() << "no error";
  } catch (const CapacityError& e) {
    EXPECT_NE(std::string(e.what()).find("slot 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->prefill(cache, 7, tok.data(), 1, out.data()), CapacityError);
}

TEST(Decode, PaddingAtTheEndDoesNotChangeEarlierPositions) {
  const ModelConfig c = micro_config();
  auto m = make(c, 12);
  const int V = c.vocab_size, T = 8;
  auto tok = testing::random_tokens(2 * T, V, 13);
  std::vector<float> l1(2 * T * V), l2(2 * T * V);
  m->forward(tok.data(), 2, T, l1.data());
  tok[T - 1] = 0;  // change the last token of row 0
  tok[T - 2] = 1;
  m->forward(tok.data(), 2, T, l2.data());
  for (int i = 0; i < (T - 2) * V; ++i) ASSERT_EQ(l1[i], l2[i]) << i;
  for (int i = T * V; i < 2 * T * V; ++i) ASSERT_EQ(l1[i], l2[i]) << i;
}

}  // namespace
}  // namespace reasonrl::model
