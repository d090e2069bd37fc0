// old_store.h (tests): a rollout store of schema version 3 (before text was made valid UTF-8) built by hand, holding
// completions, a prompt, a gold answer, a finish reason and a reward component with bytes that are not UTF-8, as
// version 3 wrote them (a byte-level model can stop inside a character).
#pragma once
#include <string>

#include "rl/store/store.h"

namespace reasonrl::store::testing {

// The completions of the file's samples 1..3: sample 2 is valid UTF-8, the others are not.
inline const std::string kBadText1 = "the answer is 4\xC3";              // a 2-byte character cut after its lead byte
inline const std::string kGoodText2 = "caf\xC3\xA9 \\boxed{5}";            // valid (with a backslash)
inline const std::string kBadText3 = "\xFF\xFE x \xE2\x82 \xED\xA0\x80 y";  // 0xFF, a cut 3-byte, a surrogate
inline const std::string kBadPrompt = "what is 2+2? \x80";
inline const std::string kBadGold = "4\xF0\x9F";
inline const std::string kBadFinish = "stop\xC0";
inline const std::string kBadComponent = "acc\xFF";

inline void make_version3_store_with_bad_utf8(const std::string& path) {
  Db db(path, false);
  db.exec("PRAGMA journal_mode = WAL");
  for (int v = 0; v < 3; ++v) db.exec(migrations()[static_cast<size_t>(v)]);
  db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db.exec("PRAGMA user_version = 3");
  db.exec("INSERT INTO run VALUES (1, 'old', '{}', 'v0', 7, '2026-01-01T00:00:00Z')");
  db.exec("INSERT INTO run_sessions (kind, at, version) VALUES ('start', '2026-01-01T00:00:00Z', 'v0')");
  db.prepare("INSERT INTO prompts (id, dataset, text, gold, difficulty) VALUES (0, 'd', ?, ?, 1)")
      .bind(1, kBadPrompt).bind(2, kBadGold).run();
  db.exec("INSERT INTO prompts (id, dataset, text, gold) VALUES (1, 'd', 'fine', '5')");
  db.exec("INSERT INTO steps VALUES (0, '2026-01-01T00:00:00Z', 3)");
  db.exec("INSERT INTO step_metrics VALUES (0, 'reward/mean', 0.5)");
  const std::string texts[3] = {kBadText1, kGoodText2, kBadText3};
  for (int i = 0; i < 3; ++i) {
    db.prepare("INSERT INTO samples (id, step, prompt_id, group_id, group_index, text, n_tokens, finish_reason, reward, "
               "correct, advantage, policy_version_min, policy_version_max, n_segments, segments_json) "
               "VALUES (?, 0, ?, 0, ?, ?, 5, ?, ?, ?, 0, 0, 0, 1, '[]')")
        .bind(1, i + 1).bind(2, i == 1 ? 1 : 0).bind(3, i).bind(4, texts[i])
        .bind(5, i == 2 ? kBadFinish : std::string("stop")).bind(6, i == 1 ? 1.0 : 0.0).bind(7, i == 1 ? 1 : 0)
        .run();
    db.prepare("INSERT INTO sample_rewards VALUES (?, ?, ?)")
        .bind(1, i + 1).bind(2, i == 0 ? kBadComponent : std::string("accuracy")).bind(3, i == 1 ? 1.0 : 0.0).run();
  }
}

}  // namespace reasonrl::store::testing
