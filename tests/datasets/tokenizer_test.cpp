// Tests for the byte-level BPE tokenizer: byte table, pre-tokenizer splits, merge order, trainer, save/load, decode.
#include "datasets/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "datasets/bpe_trainer.h"
#include "datasets/byte_level.h"
#include "datasets/synthetic.h"
#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

TEST(ByteLevel, Gpt2TableKnownEntries) {
  // Values from GPT-2's bytes_to_unicode (encoder.py): printable ASCII maps to itself, space -> U+0120, \n -> U+010A.
  EXPECT_EQ(byte_to_unicode(' '), "\u0120");
  EXPECT_EQ(byte_to_unicode('\n'), "\u010a");
  EXPECT_EQ(byte_to_unicode('a'), "a");
  EXPECT_EQ(byte_to_unicode(0x00), "\u0100");
  EXPECT_EQ(byte_to_unicode(0xAD), "\u0143");  // the last of the 68 remapped bytes
  EXPECT_EQ(byte_to_unicode(0xFF), "\u00ff");
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(unicode_to_bytes_str(bytes_to_unicode_str(all)), all);
  EXPECT_THROW(unicode_to_bytes_str("\u4e00"), FormatError);
}

TEST(PreTokenizer, DigitsSplitIsolatesEveryDigit) {
  const auto p = PreTokenizer::digits_split();
  EXPECT_EQ(p.split("abc 123"), (std::vector<std::string>{"abc", " ", "1", "2", "3"}));
  EXPECT_EQ(p.split("Compute 23+45."), (std::vector<std::string>{"Compute", " ", "2", "3", "+", "4", "5", "."}));
}

TEST(PreTokenizer, DeepSeekGroupsDigitsByThreeAndCjkRuns) {
  const auto p = PreTokenizer::deepseek_v3();
  EXPECT_EQ(p.split("12345"), (std::vector<std::string>{"123", "45"}));
  EXPECT_EQ(p.split("计算23加45"), (std::vector<std::string>{"计算", "23", "加", "45"}));
  EXPECT_EQ(p.split("Hello world"), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(p.split("a  b"), (std::vector<std::string>{"a", " ", " b"}));  // \s+(?!\S) leaves the last space to the word
}

TEST(PreTokenizer, SplitBehaviours) {
  auto mk = [](const char* behavior) {
    return PreTokenizer::from_json(json{{"type", "Sequence"},
                                        {"pretokenizers", json::array({json{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}},
                                                                       json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}});
  };
  EXPECT_EQ(mk("Isolated").split("a-b--c"), (std::vector<std::string>{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(mk("Removed").split("a-b--c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(mk("MergedWithPrevious").split("a-b--c"), (std::vector<std::string>{"a-", "b-", "-", "c"}));
  EXPECT_EQ(mk("MergedWithNext").split("a-b--c"), (std::vector<std::string>{"a", "-b", "-", "-c"}));
  EXPECT_EQ(mk("Contiguous").split("a-b--c"), (std::vector<std::string>{"a", "-", "b", "--", "c"}));
  EXPECT_THROW(mk("Sideways"), FormatError);
  EXPECT_THROW(PreTokenizer::from_json(json{{"type", "Metaspace"}}), FormatError);
}

// A hand-made tokenizer: bytes, then merges in a chosen order, to pin the merge rules.
Tokenizer tiny(const std::vector<std::pair<std::string, std::string>>& merges) {
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.push_back(byte_to_unicode(uint8_t(b)));
  for (const auto& [a, b] : merges)
    if (std::find(toks.begin(), toks.end(), a + b) == toks.end()) toks.push_back(a + b);
  return Tokenizer::from_parts(toks, merges, {}, PreTokenizer::digits_split());
}

TEST(Bpe, LowestRankFirstThenLeftmost) {
  // rank 0: b c, rank 1: a b. "abc" -> a + bc (not ab + c).
  auto t = tiny({{"b", "c"}, {"a", "b"}});
  auto ids = t.encode("abc");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(t.id_to_token(ids[0]), "a");
  EXPECT_EQ(t.id_to_token(ids[1]), "bc");
  // Equal ranks: leftmost first. "aaa" with a a -> aa + a.
  auto t2 = tiny({{"a", "a"}});
  auto ids2 = t2.encode("aaa");
  ASSERT_EQ(ids2.size(), 2u);
  EXPECT_EQ(t2.id_to_token(ids2[0]), "aa");
  EXPECT_EQ(t2.id_to_token(ids2[1]), "a");
  // Merges chain: a b, ab c -> abc; merges never cross pre-token boundaries ("ab c" stays 3 tokens).
  auto t3 = tiny({{"a", "b"}, {"ab", "c"}});
  EXPECT_EQ(t3.encode("abc").size(), 1u);
  EXPECT_EQ(t3.encode("ab c").size(), 3u);
}

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (auto kind : {SyntheticKind::Arithmetic, SyntheticKind::ArithmeticZh, SyntheticKind::Countdown}) {
    SyntheticConfig c;
    c.task = kind;
    for (const auto& e : SyntheticTask(c).generate(Split::Train, 300, 1))
      texts.push_back(e.prompt + "\n<think>" + e.cot + "</think><answer>" + e.final_text() + "</answer>");
  }
  return texts;
}

TEST(BpeTrainer, TrainsDigitsStaySingleAndSpecialsAreAtomic) {
  BpeTrainerConfig cfg;
  cfg.vocab_size = 300;
  const Tokenizer t = train_bpe(corpus(), cfg);
  EXPECT_EQ(t.vocab_size(), 300);
  EXPECT_EQ(t.n_merges(), 300u - 256u - 7u);
  // The synthetic corpus has few distinct words: a large budget stops when no pair is seen min_frequency times.
  cfg.vocab_size = 1000;
  const Tokenizer big = train_bpe(corpus(), cfg);
  EXPECT_LT(big.vocab_size(), 1000);
  EXPECT_EQ(size_t(big.vocab_size()), 263u + big.n_merges());
  EXPECT_EQ(t.token_to_id(kBos), 0);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_EQ(t.pad_id(), 2);
  EXPECT_EQ(t.token_to_id("<think>"), 3);
  // "Compute" is frequent: learned as one token.
  EXPECT_EQ(t.encode("Compute").size(), 1u);
  // Digits: one token each.
  auto ids = t.encode("<think>123+4567=4690</think>");
  EXPECT_EQ(ids.size(), 1u + 3 + 1 + 4 + 1 + 4 + 1);
  EXPECT_EQ(ids.front(), 3);
  EXPECT_EQ(ids.back(), 4);
  // Special tokens: skip_special drops BOS/EOS but keeps the tags.
  std::vector<int> with = {t.bos_id()};
  t.encode_append("<think>1</think>", with);
  with.push_back(t.eos_id());
  EXPECT_EQ(t.decode(with, true), "<think>1</think>");
  EXPECT_EQ(t.decode(with, false), std::string(kBos) + "<think>1</think>" + kEos);
}

TEST(BpeTrainer, Deterministic) {
  BpeTrainerConfig cfg;
  cfg.vocab_size = 320;
  EXPECT_EQ(train_bpe(corpus(), cfg).to_json_text(), train_bpe(corpus(), cfg).to_json_text());
  cfg.vocab_size = 100;
  EXPECT_THROW(train_bpe(corpus(), cfg), ConfigError);
}

TEST(Tokenizer, DecodeIsExactForAnyBytes) {
  BpeTrainerConfig cfg;
  cfg.vocab_size = 360;
  const Tokenizer t = train_bpe(corpus(), cfg);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes += char(b);
  for (const std::string& s : {std::string("Compute 12+7."), std::string("计算23加45得68，🙂 end\n\n\ttabs  "), all_bytes,
                              std::string("<think></think><answer>x</answer><|pad|>"), std::string()}) {
    EXPECT_EQ(t.decode(t.encode(s)), s);
  }
}

TEST(Tokenizer, SaveLoadRoundTrip) {
  BpeTrainerConfig cfg;
  cfg.vocab_size = 380;
  const Tokenizer t = train_bpe(corpus(), cfg);
  const std::string path = std::string(REASONRL_BINARY_DIR) + "/test_tokenizer_roundtrip.json";
  t.save(path);
  const Tokenizer u = Tokenizer::load(path);
  EXPECT_EQ(nlohmann::json::parse(u.to_json_text()), nlohmann::json::parse(t.to_json_text()));
  EXPECT_EQ(u.vocab_size(), t.vocab_size());
  for (const auto& s : corpus()) ASSERT_EQ(u.encode(s), t.encode(s)) << s;
  EXPECT_TRUE(u.is_special(u.eos_id()));
  EXPECT_FALSE(u.is_special(u.token_to_id("<answer>")));
  std::filesystem::remove(path);
}

TEST(Tokenizer, LoadRejectsBadFiles) {
  EXPECT_THROW(Tokenizer::from_json(nlohmann::json::parse(R"({"version":"2.0"})")), FormatError);
  EXPECT_THROW(Tokenizer().encode("a"), FormatError);
  auto base = nlohmann::json::parse(R"({"version":"1.0","added_tokens":[],"normalizer":null,
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})");
  EXPECT_NO_THROW(Tokenizer::from_json(base));
  auto dup = base;  // two tokens with one id (found by fuzz_tokenizer: loaded, but the saved file no longer loaded)
  dup["model"]["vocab"]["ab"] = 1;
  EXPECT_THROW(Tokenizer::from_json(dup), FormatError);
  auto bad = base;
  bad["model"]["merges"] = {"a c"};
  EXPECT_THROW(Tokenizer::from_json(bad), FormatError);
  bad = base;
  bad["model"]["type"] = "WordPiece";
  EXPECT_THROW(Tokenizer::from_json(bad), FormatError);
  bad = base;
  bad["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THROW(Tokenizer::from_json(bad), FormatError);
  // Pair-form merges load the same as string merges.
  auto pairs = base;
  pairs["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
  EXPECT_EQ(Tokenizer::from_json(pairs).encode("ab"), std::vector<int>{2});
  EXPECT_EQ(Tokenizer::from_json(base).encode("ab"), std::vector<int>{2});
}

// An id past int's range used to wrap to a negative index and crash the load (found by fuzz_tokenizer): every id, in
// the vocab or of an added token, must be an integer in [0, 2^24 - 1], and the error names the token and the value.
TEST(Tokenizer, TokenIdsOutsideTheirRangeAreFormatErrorsNamingTheToken) {
  const auto base = nlohmann::json::parse(R"({"version":"1.0","added_tokens":[{"id":3,"content":"<eos>"}],
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})");
  EXPECT_EQ(Tokenizer::from_json(base).vocab_size(), 4);
  auto message = [](const nlohmann::json& j) {
    try {
      Tokenizer::from_json(j, "tok.json");
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  for (const auto& id : {nlohmann::json(5555555555555266LL), nlohmann::json(4294967296ULL), nlohmann::json(2147483648LL),
                         nlohmann::json(16777216), nlohmann::json(-1), nlohmann::json(1.5), nlohmann::json("1")}) {
    auto v = base;
    v["model"]["vocab"]["ab"] = id;
    const std::string m = message(v);
    EXPECT_NE(m.find("tok.json"), std::string::npos) << m;
    EXPECT_NE(m.find("model.vocab['ab'] = " + id.dump()), std::string::npos) << m;
    auto a = base;
    a["added_tokens"][0]["id"] = id;
    const std::string ma = message(a);
    EXPECT_NE(ma.find("added token '<eos>': id = " + id.dump()), std::string::npos) << ma;
  }
  auto top = base;  // the largest id loads
  top["added_tokens"][0]["id"] = 16777215;
  EXPECT_EQ(Tokenizer::from_json(top).vocab_size(), 16777216);
}

// HF's ByteLevel add_prefix_space (its default when the key is missing) puts a space before each word without one, so
// such a tokenizer does not round-trip; lossless() says so (fuzz_tokenizer found a file whose key was misspelt).
TEST(Tokenizer, LosslessOnlyWithoutPrefixSpaceRemovedSplitsOrStrippedAddedTokens) {
  BpeTrainerConfig cfg;
  cfg.vocab_size = 300;
  EXPECT_TRUE(train_bpe(corpus(), cfg).lossless());
  const auto base = nlohmann::json::parse(R"({"version":"1.0","added_tokens":[
      {"id":3,"content":"<a>","special":true,"normalized":false}],"normalizer":null,
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","vocab":{"a":0,"b":1,"\u0120":2},"merges":[]}})");
  const Tokenizer t = Tokenizer::from_json(base);
  EXPECT_TRUE(t.lossless());
  EXPECT_EQ(t.decode(t.encode("ab")), "ab");
  auto prefix = base;
  prefix["pre_tokenizer"].erase("add_prefix_space");  // HF default: true
  const Tokenizer p = Tokenizer::from_json(prefix);
  EXPECT_FALSE(p.lossless());
  EXPECT_EQ(p.decode(p.encode("ab")), " ab");
  auto removed = base;
  removed["pre_tokenizer"] = nlohmann::json::parse(R"({"type":"Sequence","pretokenizers":[
      {"type":"Split","pattern":{"String":"b"},"behavior":"Removed","invert":false},
      {"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})");
  const Tokenizer r = Tokenizer::from_json(removed);
  EXPECT_FALSE(r.lossless());
  EXPECT_EQ(r.decode(r.encode("ab")), "a");
  auto strip = base;
  strip["added_tokens"][0]["lstrip"] = true;
  EXPECT_FALSE(Tokenizer::from_json(strip).lossless());
}

TEST(Tokenizer, AddedTokensLeftmostLongest) {
  auto j = nlohmann::json::parse(R"({"version":"1.0","added_tokens":[
      {"id":3,"content":"<a>","special":true,"normalized":false},
      {"id":4,"content":"<a><b>","special":true,"normalized":false}],
    "normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"decoder":{"type":"ByteLevel"},
    "model":{"type":"BPE","vocab":{"x":0,"<":1,">":2},"merges":[]}})");
  const auto t = Tokenizer::from_json(j);
  EXPECT_EQ(t.encode("x<a><b>x<a>x"), (std::vector<int>{0, 4, 0, 3, 0}));
  EXPECT_EQ(t.decode({0, 4, 0, 3, 0}, true), "xxx");
}

}  // namespace
}  // namespace reasonrl::datasets
