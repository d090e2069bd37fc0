// Golden test of the log-prob head against PyTorch autograd on Hugging Face's logits-warper semantics
// (tests/policy/logprob_golden.py): logp, entropy and the gradient w.r.t. the logits, with temperature and top-k /
// top-p / min-p truncation. Targets are drawn by our sampler chain, so they lie in the kept set.
#include <gtest/gtest.h>
#include "tests/require.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "policy/logprob.h"
#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {

bool have_torch() {
  const std::string cmd = std::string(REASONRL_PYTHON) + " -c 'import torch' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

void check_against_torch(const SamplingParams& sp, uint64_t seed) {
  const int N = 24, V = 300;
  Rng r(seed);
  std::vector<float> logits(size_t(N) * V), dlogp(N), dent(N);
  std::vector<int32_t> targets(N);
  SamplerChain chain = make_sampler_chain(sp);
  Candidates cur;
  for (int i = 0; i < N; ++i) {
    for (int v = 0; v < V; ++v) logits[size_t(i) * V + size_t(v)] = float(2.5 * r.normal());
    targets[size_t(i)] = sample_token(chain, cur, logits.data() + size_t(i) * V, V, r);
    dlogp[size_t(i)] = float(r.normal());
    dent[size_t(i)] = float(r.normal());
  }
  json in;
  in["N"] = N;
  in["V"] = V;
  in["temperature"] = double(sp.temperature);
  in["top_k"] = sp.top_k;
  in["top_p"] = double(sp.top_p);
  in["min_p"] = double(sp.min_p);
  in["logits"] = logits;
  in["targets"] = targets;
  in["dlogp"] = dlogp;
  in["dentropy"] = dent;
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/tests_tmp";
  std::filesystem::create_directories(dir);
  const std::string fin = dir + "/logprob_golden_in_" + std::to_string(seed) + ".json";
  const std::string fout = dir + "/logprob_golden_out_" + std::to_string(seed) + ".json";
  write_file_atomic(fin, in.dump());
  const std::string cmd = std::string(REASONRL_PYTHON) + " " + REASONRL_SOURCE_DIR + "/tests/policy/logprob_golden.py " + fin + " " + fout;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json out = json::parse(read_file(fout));
  std::remove(fin.c_str());
  std::remove(fout.c_str());

  std::vector<float> logp(N), ent(N), grad(size_t(N) * V);
  sampling_logprob(logits.data(), N, V, sp, targets.data(), logp.data(), ent.data());
  sampling_logprob_backward(logits.data(), N, V, sp, targets.data(), dlogp.data(), dent.data(), grad.data());
  for (int i = 0; i < N; ++i) {
    EXPECT_NEAR(logp[size_t(i)], out["logp"][size_t(i)].get<double>(), 2e-5) << "row " << i;
    EXPECT_NEAR(ent[size_t(i)], out["entropy"][size_t(i)].get<double>(), 2e-5) << "row " << i;
    for (int v = 0; v < V; ++v)
      ASSERT_NEAR(grad[size_t(i) * V + size_t(v)], out["grad"][size_t(i) * V + size_t(v)].get<double>(), 2e-5)
          << "row " << i << " token " << v;
  }
}

TEST(LogprobGolden, MatchesTorchAutogradOnHfWarpers) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " has no torch");
  check_against_torch({0.7f, 0, 0.9f, 0.0f}, 1);
  check_against_torch({1.0f, 0, 1.0f, 0.0f}, 2);
  check_against_torch({1.3f, 40, 0.95f, 0.0f}, 3);
  check_against_torch({0.8f, 0, 1.0f, 0.05f}, 4);
}

}  // namespace
}  // namespace reasonrl::policy
