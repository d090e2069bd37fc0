// Deterministic mode (model.h set_deterministic): linear_forward_invariant gives each row's outputs bit-identical
// whatever the number of rows sharing the call and the thread count (and agrees with the scalar reference); the
// model's training forward gives the same logits and routes bit for bit alone or padded among other rows, on 1 or 2
// threads, and equal to prefill + decode_step with rows joining and leaving the decode batch.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "model/layers.h"
#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

struct Threads {  // sets the OpenMP thread count for a scope
  int old = omp_get_max_threads();
  explicit Threads(int n) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(old); }
};

bool bit_equal(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// Shapes with tails everywhere: I not a multiple of 16 lanes, O not a multiple of 8 rows, N across the 4-row blocks and
// the 64-row chunks.
TEST(LinearInvariant, RowsBitIdenticalWhateverTheBatchAndThreads) {
  for (const auto& [I, O] : {std::pair{40, 29}, std::pair{64, 96}, std::pair{7, 3}, std::pair{300, 513}}) {
    const int Nmax = 150;
    const auto xd = testing::randn(size_t(Nmax) * I, 1), wd = testing::randn(size_t(O) * I, 2);
    const std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end());
    std::vector<float> one(size_t(Nmax) * O);
    {
      Threads t(1);
      for (int n = 0; n < Nmax; ++n) linear_forward_invariant(one.data() + size_t(n) * O, x.data() + size_t(n) * I, w.data(), 1, I, O);
    }
    std::vector<float> ref(size_t(Nmax) * O);
    linear_forward_ref(ref.data(), x.data(), w.data(), Nmax, I, O);
    EXPECT_LT(testing::rel_err(one.data(), ref.data(), ref.size()), 1e-5) << I << "x" << O;
    for (int threads : {1, 2})
      for (int N : {2, 3, 5, 16, 17, 64, 65, 130, 150}) {
        Threads t(threads);
        std::vector<float> y(size_t(N) * O);
        // rows [Nmax - N, Nmax): each row sits at another place than in the calls above
        linear_forward_invariant(y.data(), x.data() + size_t(Nmax - N) * I, w.data(), N, I, O);
        EXPECT_TRUE(bit_equal(y.data(), one.data() + size_t(Nmax - N) * O, y.size()))
            << I << "x" << O << ", N " << N << ", threads " << threads;
      }
  }
}

// Tails in every linear (hidden 40, expert width 24, vocab 70), more experts than rows per expert group.
ModelConfig odd_config() {
  ModelConfig c = testing::micro_config();
  c.hidden_size = 40;
  c.moe_intermediate_size = 24;
  c.intermediate_size = 56;
  c.vocab_size = 70;
  c.n_routed_experts = 6;
  c.initializer_range = 0.2;  // peaked distributions, so rounding differences would show
  return c;
}

std::unique_ptr<Model> make(const ModelConfig& c) {
  auto m = std::make_unique<Model>(c);
  m->init_weights(3);
  testing::perturb(*m, 4);
  m->set_deterministic(true);
  return m;
}

// Training forward of sequence lengths `len` right-padded to T: logits (B, T, V) and routes (B*T, W).
struct Fwd {
  std::vector<float> logits;
  std::vector<int16_t> routes;
};
Fwd forward(Model& m, const std::vector<std::vector<int32_t>>& seqs, int T) {
  const int B = int(seqs.size()), V = m.config().vocab_size;
  std::vector<int32_t> tok(size_t(B) * T, 0);
  std::vector<float> mask(size_t(B) * T, 0.0f);
  for (int b = 0; b < B; ++b) {
    std::copy(seqs[b].begin(), seqs[b].end(), tok.begin() + long(b) * T);
    std::fill(mask.begin() + long(b) * T, mask.begin() + long(b) * T + long(seqs[b].size()), 1.0f);
  }
  Fwd f;
  f.logits.resize(size_t(B) * T * V);
  m.forward(tok.data(), B, T, f.logits.data(), mask.data());
  f.routes.resize(size_t(B) * T * size_t(m.route_width()));
  m.last_routes(f.routes);
  return f;
}

TEST(DeterministicModel, ForwardBitIdenticalAlonePaddedAndOnTwoThreads) {
  const ModelConfig c = odd_config();
  auto m = make(c);
  const int V = c.vocab_size, W = m->route_width();
  std::vector<std::vector<int32_t>> seqs = {testing::random_tokens(37, V, 10), testing::random_tokens(9, V, 11),
                                            testing::random_tokens(52, V, 12), testing::random_tokens(23, V, 13)};
  Fwd batch2, batch1;
  {
    Threads t(2);
    batch2 = forward(*m, seqs, 52);
  }
  {
    Threads t(1);
    batch1 = forward(*m, seqs, 52);
  }
  EXPECT_TRUE(bit_equal(batch1.logits.data(), batch2.logits.data(), batch1.logits.size())) << "1 vs 2 threads";
  EXPECT_EQ(batch1.routes, batch2.routes);
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int L = int(seqs[s].size());
    const Fwd alone = forward(*m, {seqs[s]}, L);
    EXPECT_TRUE(bit_equal(alone.logits.data(), batch2.logits.data() + s * 52 * V, size_t(L) * V)) << "sequence " << s;
    EXPECT_TRUE(std::equal(alone.routes.begin(), alone.routes.end(), batch2.routes.begin() + long(s * 52 * W)))
        << "sequence " << s;
  }
  // Deterministic and default forwards are the same function to float rounding.
  auto d = make(c);
  d->set_deterministic(false);
  const Fwd def = forward(*d, seqs, 52);
  EXPECT_LT(testing::rel_err(batch2.logits.data(), def.logits.data(), def.logits.size()), 1e-4);
}

TEST(DeterministicModel, DecodeWithCompactionEqualsTrainingForwardBitwise) {
  const ModelConfig c = odd_config();
  auto m = make(c);
  const int V = c.vocab_size, W = m->route_width();
  // prompts of 3, 20 and 70 tokens (a prefill past 64 rows), responses of different lengths: rows leave the batch
  const std::vector<int> P = {3, 20, 70}, R = {30, 6, 17};
  std::vector<std::vector<int32_t>> seqs;
  for (int s = 0; s < 3; ++s) seqs.push_back(testing::random_tokens(P[s] + R[s], V, 20 + s));
  Fwd train;
  {
    Threads t(2);
    train = forward(*m, seqs, 87);
  }
  Threads t(2);
  KVCache cache(c, 3, 128);
  std::vector<float> out(3 * size_t(V));
  for (int s = 0; s < 3; ++s) {
    m->prefill(cache, s, seqs[s].data(), P[s], out.data());
    const size_t row = size_t(s) * 87 + size_t(P[s] - 1);
    EXPECT_TRUE(bit_equal(out.data(), train.logits.data() + row * V, size_t(V))) << "prefill " << s;
    EXPECT_TRUE(std::equal(m->last_decode_routes().begin(), m->last_decode_routes().end(),
                           train.routes.begin() + long(row * W)))
        << "prefill routes " << s;
  }
  int checked = 0;
  for (int j = 0;; ++j) {  // step j feeds response token j of every row that still has one after it
    std::vector<int> slots;
    std::vector<int32_t> toks;
    for (int s = 0; s < 3; ++s)
      if (j + 1 < R[s]) slots.push_back(s), toks.push_back(seqs[s][size_t(P[s] + j)]);
    if (slots.empty()) break;
    m->decode_step(cache, slots.data(), toks.data(), int(slots.size()), out.data());
    const auto routes = m->last_decode_routes();
    for (size_t i = 0; i < slots.size(); ++i, ++checked) {
      const int s = slots[i];
      const size_t row = size_t(s) * 87 + size_t(P[s] + j);
      EXPECT_TRUE(bit_equal(out.data() + i * V, train.logits.data() + row * V, size_t(V))) << "row " << s << " step " << j;
      EXPECT_TRUE(std::equal(routes.begin() + long(i * W), routes.begin() + long((i + 1) * W),
                             train.routes.begin() + long(row * W)))
          << "routes of row " << s << " step " << j;
    }
  }
  EXPECT_EQ(checked, 29 + 5 + 16);
}

}  // namespace
}  // namespace reasonrl::model
