// store.cpp: the rollout store: schema and migrations, the per-step writer, resume truncation, sample metrics.
#include "rl/store/store.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "rl/util/error.h"
#include "rl/util/utf8.h"

namespace reasonrl::store {

// ---- schema ----------------------------------------------------------------------------------------------------
// Never edit a released migration: add a new one (and bump kSchemaVersion) instead.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> kMigrations = {
      // 0 -> 1: run, steps, prompts, samples.
      R"sql(
CREATE TABLE run (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  name        TEXT NOT NULL,
  config_json TEXT NOT NULL,
  version     TEXT NOT NULL,
  seed        INTEGER NOT NULL,
  started_at  TEXT NOT NULL
);
CREATE TABLE run_sessions (
  id            INTEGER PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('start', 'resume')),
  at            TEXT NOT NULL,
  version       TEXT NOT NULL,
  from_step     INTEGER,
  dropped_steps INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE steps (
  step       INTEGER PRIMARY KEY,
  written_at TEXT NOT NULL,
  n_samples  INTEGER NOT NULL
);
CREATE TABLE step_metrics (
  step  INTEGER NOT NULL REFERENCES steps(step) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (step, key)
) WITHOUT ROWID;
CREATE TABLE prompts (
  id         INTEGER PRIMARY KEY,
  dataset    TEXT NOT NULL,
  source_id  TEXT NOT NULL DEFAULT '',
  text       TEXT NOT NULL,
  gold       TEXT NOT NULL,
  difficulty INTEGER
);
CREATE TABLE samples (
  id                 INTEGER PRIMARY KEY,
  step               INTEGER NOT NULL REFERENCES steps(step) ON DELETE CASCADE,
  prompt_id          INTEGER NOT NULL REFERENCES prompts(id),
  group_id           INTEGER NOT NULL,
  group_index        INTEGER NOT NULL,
  text               TEXT NOT NULL,
  n_tokens           INTEGER NOT NULL,
  finish_reason      TEXT NOT NULL,
  reward             REAL NOT NULL,
  correct            INTEGER NOT NULL CHECK (correct IN (0, 1)),
  advantage          REAL NOT NULL,
  policy_version_min INTEGER NOT NULL,
  policy_version_max INTEGER NOT NULL,
  n_segments         INTEGER NOT NULL,
  segments_json      TEXT NOT NULL,
  UNIQUE (step, prompt_id, group_id, group_index)
);
CREATE TABLE sample_rewards (
  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  component TEXT NOT NULL,
  value     REAL,
  PRIMARY KEY (sample_id, component)
) WITHOUT ROWID;
)sql",
      // 1 -> 2: evaluations, an index for per-prompt history, and a convenience view.
      R"sql(
CREATE TABLE evaluations (
  step  INTEGER NOT NULL,
  split TEXT NOT NULL,
  stage TEXT NOT NULL DEFAULT '',
  key   TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (step, split, stage, key)
) WITHOUT ROWID;
CREATE INDEX samples_by_prompt ON samples (prompt_id, step);
CREATE VIEW samples_view AS
  SELECT s.*, p.dataset, p.difficulty, p.text AS prompt_text, p.gold
  FROM samples s JOIN prompts p ON p.id = s.prompt_id;
)sql",
      // 2 -> 3: a resume that changed the config (--override-resumed-config) records the config in force from then on
      // and the changes; NULL = the config did not change.
      R"sql(
ALTER TABLE run_sessions ADD COLUMN config_json TEXT;
ALTER TABLE run_sessions ADD COLUMN config_changes TEXT;
)sql",
      // 3 -> 4: text is valid UTF-8 (a byte-level model can emit bytes that are not; JSON and Python's sqlite3 cannot
      // read them). Ill-formed bytes in text are replaced with U+FFFD; the exact bytes of a completion, a prompt or a
      // gold answer go to a BLOB column, NULL when the text was valid. Every other text column is replaced only.
      // reasonrl_utf8_valid / reasonrl_utf8_replace are SQL functions that RolloutStore::open registers.
      R"sql(
ALTER TABLE samples ADD COLUMN text_bytes BLOB;
ALTER TABLE prompts ADD COLUMN text_bytes BLOB;
ALTER TABLE prompts ADD COLUMN gold_bytes BLOB;
UPDATE samples SET text_bytes = CAST(text AS BLOB), text = reasonrl_utf8_replace(text)
  WHERE NOT reasonrl_utf8_valid(text);
UPDATE prompts SET text_bytes = CAST(text AS BLOB), text = reasonrl_utf8_replace(text)
  WHERE NOT reasonrl_utf8_valid(text);
UPDATE prompts SET gold_bytes = CAST(gold AS BLOB), gold = reasonrl_utf8_replace(gold)
  WHERE NOT reasonrl_utf8_valid(gold);
UPDATE samples SET finish_reason = reasonrl_utf8_replace(finish_reason),
                   segments_json = reasonrl_utf8_replace(segments_json)
  WHERE NOT (reasonrl_utf8_valid(finish_reason) AND reasonrl_utf8_valid(segments_json));
UPDATE prompts SET dataset = reasonrl_utf8_replace(dataset), source_id = reasonrl_utf8_replace(source_id)
  WHERE NOT (reasonrl_utf8_valid(dataset) AND reasonrl_utf8_valid(source_id));
UPDATE run SET name = reasonrl_utf8_replace(name), config_json = reasonrl_utf8_replace(config_json),
               version = reasonrl_utf8_replace(version), started_at = reasonrl_utf8_replace(started_at)
  WHERE NOT (reasonrl_utf8_valid(name) AND reasonrl_utf8_valid(config_json) AND reasonrl_utf8_valid(version)
             AND reasonrl_utf8_valid(started_at));
UPDATE run_sessions SET kind = reasonrl_utf8_replace(kind), at = reasonrl_utf8_replace(at),
                        version = reasonrl_utf8_replace(version), config_json = reasonrl_utf8_replace(config_json),
                        config_changes = reasonrl_utf8_replace(config_changes)
  WHERE NOT (reasonrl_utf8_valid(kind) AND reasonrl_utf8_valid(at) AND reasonrl_utf8_valid(version)
             AND reasonrl_utf8_valid(config_json) AND reasonrl_utf8_valid(config_changes));
UPDATE steps SET written_at = reasonrl_utf8_replace(written_at) WHERE NOT reasonrl_utf8_valid(written_at);
UPDATE step_metrics SET key = reasonrl_utf8_replace(key) WHERE NOT reasonrl_utf8_valid(key);
UPDATE sample_rewards SET component = reasonrl_utf8_replace(component) WHERE NOT reasonrl_utf8_valid(component);
UPDATE evaluations SET split = reasonrl_utf8_replace(split), stage = reasonrl_utf8_replace(stage),
                       key = reasonrl_utf8_replace(key)
  WHERE NOT (reasonrl_utf8_valid(split) AND reasonrl_utf8_valid(stage) AND reasonrl_utf8_valid(key));
)sql",
      // 4 -> 5: why a reward component failed on a sample (it threw, timed out, crashed, returned NaN/Inf, its plugin
      // was disabled); value is then NULL. NULL error with NULL value = the component did not apply.
      R"sql(
ALTER TABLE sample_rewards ADD COLUMN error TEXT;
)sql",
  };
  static_assert(kSchemaVersion == 5, "add the migration for the new schema version");
  return kMigrations;
}

std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void StoreConfig::validate() const {
  if (enabled && file.empty()) throw ConfigError("store.file must not be empty when store.enabled is true");
  if (busy_timeout_ms < 0) throw ConfigError("store.busy_timeout_ms must be >= 0");
}

// ---- writer statements ---------------------------------------------------------------------------------------------
struct RolloutStore::Writers {
  Stmt step_exists, insert_step, insert_metric, insert_sample, insert_reward, prompt_exists;
  Stmt upsert_prompt;
  Stmt delete_eval, insert_eval;
};

RolloutStore::RolloutStore(RolloutStore&&) noexcept = default;
RolloutStore& RolloutStore::operator=(RolloutStore&&) noexcept = default;
RolloutStore::~RolloutStore() {
  w_.reset();  // finalize statements before the connection closes
}

namespace {

// RAII transaction: BEGIN IMMEDIATE ... COMMIT, rolled back if not committed.
class Txn {
 public:
  explicit Txn(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }
  ~Txn() {
    if (!done_) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  Db& db_;
  bool done_ = false;
};

const char* sync_pragma(Synchronous s) {
  switch (s) {
    case Synchronous::Off: return "PRAGMA synchronous = OFF";
    case Synchronous::Full: return "PRAGMA synchronous = FULL";
    default: return "PRAGMA synchronous = NORMAL";
  }
}

// The bytes of a TEXT or BLOB argument (NULL: nullopt).
std::optional<std::string_view> arg_bytes(sqlite3_value* v) {
  if (sqlite3_value_type(v) == SQLITE_NULL) return std::nullopt;
  const auto* p = static_cast<const char*>(sqlite3_value_blob(v));
  return std::string_view(p ? p : "", static_cast<size_t>(sqlite3_value_bytes(v)));
}

// SQL functions for the migrations: reasonrl_utf8_valid(x) is 1 when x is well-formed UTF-8 (or NULL), else 0;
// reasonrl_utf8_replace(x) is x as text with ill-formed bytes replaced by U+FFFD (NULL stays NULL).
void register_utf8_functions(Db& db) {
  auto valid = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    const auto b = arg_bytes(argv[0]);
    sqlite3_result_int(ctx, !b || utf8_valid(*b) ? 1 : 0);
  };
  auto replace = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    const auto b = arg_bytes(argv[0]);
    if (!b) return sqlite3_result_null(ctx);
    const std::string r = utf8_replace_invalid(*b);
    sqlite3_result_text64(ctx, r.data(), r.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  };
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  for (auto [name, fn] : {std::pair{"reasonrl_utf8_valid", +valid}, std::pair{"reasonrl_utf8_replace", +replace}}) {
    const int rc = sqlite3_create_function_v2(db.raw(), name, 1, flags, nullptr, fn, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db.raw(), rc, std::string("cannot register SQL function ") + name);
  }
}

void check_identity(const Db& db, const std::string& path) {
  const int64_t app = db.scalar_i64("PRAGMA application_id");
  const int64_t ver = db.scalar_i64("PRAGMA user_version");
  const int64_t n_objects = db.scalar_i64("SELECT count(*) FROM sqlite_master");
  if (app != 0 && app != kApplicationId)
    throw FormatError("'" + path + "' is an SQLite file of another application (application_id " + std::to_string(app) +
                      "), not a reasonrl rollout store");
  if (app == 0 && n_objects > 0)
    throw FormatError("'" + path + "' is an SQLite file but not a reasonrl rollout store (no application_id)");
  if (ver > kSchemaVersion)
    throw FormatError("'" + path + "' has rollout-store schema version " + std::to_string(ver) +
                      ", newer than this build knows (" + std::to_string(kSchemaVersion) +
                      "). HINT: open it with a newer reasonrl");
}

}  // namespace

RolloutStore RolloutStore::open(const std::string& path, bool read_only, const StoreConfig& cfg) {
  RolloutStore st;
  st.read_only_ = read_only;
  st.db_ = Db(path, read_only, cfg.busy_timeout_ms);
  Db& db = st.db_;
  check_identity(db, path);
  int64_t ver = db.scalar_i64("PRAGMA user_version");
  if (read_only) {
    if (ver == 0) throw FormatError("'" + path + "' is empty, not a reasonrl rollout store");
    if (ver < kSchemaVersion)
      throw FormatError("'" + path + "' has rollout-store schema version " + std::to_string(ver) + ", older than " +
                        std::to_string(kSchemaVersion) + ". HINT: migrate it with `reasonrl inspect " + path +
                        " migrate` (or open it with a writer)");
    db.exec("PRAGMA query_only = ON");
    return st;
  }
  // WAL: readers (inspect, report) see the last committed step while the trainer writes the next one.
  const std::string mode = db.scalar_text("PRAGMA journal_mode = WAL");
  if (mode != "wal") throw IoError("'" + path + "': cannot switch to WAL journal mode (got '" + mode + "')");
  db.exec(sync_pragma(cfg.synchronous));
  db.exec("PRAGMA foreign_keys = ON");
  register_utf8_functions(db);
  const auto& mig = migrations();
  while (ver < kSchemaVersion) {
    Txn t(db);
    // Re-read inside the write lock: another writer may have migrated meanwhile.
    ver = db.scalar_i64("PRAGMA user_version");
    if (ver >= kSchemaVersion) break;
    db.exec(mig[static_cast<size_t>(ver)]);
    db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    db.exec("PRAGMA user_version = " + std::to_string(ver + 1));
    t.commit();
    ++ver;
  }
  st.prepare_writers();
  return st;
}

void RolloutStore::prepare_writers() {
  w_ = std::make_unique<Writers>();
  w_->step_exists = db_.prepare("SELECT 1 FROM steps WHERE step = ?");
  w_->insert_step = db_.prepare("INSERT INTO steps (step, written_at, n_samples) VALUES (?, ?, ?)");
  w_->insert_metric = db_.prepare("INSERT INTO step_metrics (step, key, value) VALUES (?, ?, ?)");
  w_->insert_sample = db_.prepare(
      "INSERT INTO samples (step, prompt_id, group_id, group_index, text, n_tokens, finish_reason, reward, correct, "
      "advantage, policy_version_min, policy_version_max, n_segments, segments_json, text_bytes) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  w_->insert_reward = db_.prepare("INSERT INTO sample_rewards (sample_id, component, value, error) VALUES (?, ?, ?, ?)");
  w_->prompt_exists = db_.prepare("SELECT 1 FROM prompts WHERE id = ?");
  w_->upsert_prompt = db_.prepare(
      "INSERT INTO prompts (id, dataset, source_id, text, gold, difficulty, text_bytes, gold_bytes) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (id) DO UPDATE SET dataset = excluded.dataset, source_id = excluded.source_id, "
      "text = excluded.text, gold = excluded.gold, difficulty = excluded.difficulty, "
      "text_bytes = excluded.text_bytes, gold_bytes = excluded.gold_bytes");
  w_->delete_eval = db_.prepare("DELETE FROM evaluations WHERE step = ? AND split = ? AND stage = ?");
  w_->insert_eval = db_.prepare("INSERT INTO evaluations (step, split, stage, key, value) VALUES (?, ?, ?, ?, ?)");
}

namespace {

// Binds text as valid UTF-8: ill-formed bytes become U+FFFD (text columns are read as UTF-8 by JSON and Python).
Stmt& bind_text(Stmt& s, int i, std::string_view v) {
  if (utf8_valid(v)) return s.bind(i, v);
  return s.bind(i, utf8_replace_invalid(v));
}

// Binds `text` at i and its exact bytes at i_bytes when they are not valid UTF-8 (NULL when they are).
Stmt& bind_text_and_bytes(Stmt& s, int i, int i_bytes, std::string_view v) {
  if (utf8_valid(v)) return s.bind(i, v).bind_null(i_bytes);
  return s.bind(i, utf8_replace_invalid(v)).bind_blob(i_bytes, v);
}

}  // namespace

static void require_writable(const RolloutStore& st) {
  if (st.read_only()) throw IoError("rollout store '" + st.path() + "' was opened read-only");
}

void RolloutStore::begin_run(const RunInfo& info) {
  require_writable(*this);
  if (db_.scalar_i64("SELECT count(*) FROM run") > 0)
    throw FormatError("rollout store '" + path() +
                      "' already holds a run. HINT: resume it (--resume) or write the new run to another file");
  Txn t(db_);
  const std::string at = info.started_at.empty() ? utc_now_iso() : info.started_at;
  Stmt run = db_.prepare("INSERT INTO run (id, name, config_json, version, seed, started_at) VALUES (1, ?, ?, ?, ?, ?)");
  bind_text(run, 1, info.name);
  bind_text(run, 2, info.config_json);
  bind_text(run, 3, info.version);
  bind_text(run.bind(4, info.seed), 5, at).run();
  Stmt ses = db_.prepare("INSERT INTO run_sessions (kind, at, version, from_step) VALUES ('start', ?, ?, NULL)");
  bind_text(bind_text(ses, 1, at), 2, info.version).run();
  t.commit();
}

int64_t RolloutStore::resume_run(int64_t from_step, const std::string& version, const std::string& config_json,
                                 const std::string& config_changes) {
  require_writable(*this);
  if (from_step < -1)  // never delete steps that no checkpoint can account for
    throw FormatError("rollout store '" + path() + "': cannot resume from step " + std::to_string(from_step) +
                      " (a checkpoint's step is >= 0; -1 restarts the run from its beginning)");
  if (db_.scalar_i64("SELECT count(*) FROM run") == 0)
    throw FormatError("rollout store '" + path() + "' holds no run to resume. HINT: start the run without --resume");
  Txn t(db_);
  Stmt c = db_.prepare("SELECT count(*) FROM steps WHERE step > ?");
  c.bind(1, from_step);
  c.step();
  const int64_t dropped = c.i64(0);
  for (const char* sql : {"DELETE FROM sample_rewards WHERE sample_id IN (SELECT id FROM samples WHERE step > ?1)",
                          "DELETE FROM samples WHERE step > ?1", "DELETE FROM step_metrics WHERE step > ?1",
                          "DELETE FROM evaluations WHERE step > ?1", "DELETE FROM steps WHERE step > ?1"})
    db_.prepare(sql).bind(1, from_step).run();
  Stmt ins = db_.prepare(
      "INSERT INTO run_sessions (kind, at, version, from_step, dropped_steps, config_json, config_changes) "
      "VALUES ('resume', ?, ?, ?, ?, ?, ?)");
  bind_text(ins.bind(1, utc_now_iso()), 2, version).bind(3, from_step).bind(4, dropped);
  if (config_changes.empty()) ins.bind_null(5).bind_null(6);
  else bind_text(bind_text(ins, 5, config_json), 6, config_changes);
  ins.run();
  t.commit();
  return dropped;
}

std::optional<RunInfo> RolloutStore::run_info() const {
  Stmt s = db_.prepare("SELECT name, config_json, version, seed, started_at FROM run WHERE id = 1");
  if (!s.step()) return std::nullopt;
  return RunInfo{s.text(0), s.text(1), s.text(2), s.i64(3), s.text(4)};
}

void RolloutStore::upsert_prompts(const std::vector<PromptRecord>& prompts) {
  require_writable(*this);
  Txn t(db_);
  Stmt& s = w_->upsert_prompt;
  for (const auto& p : prompts) {
    s.bind(1, p.id);
    bind_text(s, 2, p.dataset);
    bind_text(s, 3, p.source_id);
    bind_text_and_bytes(s, 4, 7, p.text);
    bind_text_and_bytes(s, 5, 8, p.gold);
    if (p.difficulty) s.bind(6, *p.difficulty); else s.bind_null(6);
    s.run();
  }
  t.commit();
}

void RolloutStore::write_step(const StepRecord& rec, const std::vector<SampleRecord>& samples) {
  require_writable(*this);
  for (const auto& smp : samples)
    if (smp.step != rec.step)
      throw FormatError("write_step(" + std::to_string(rec.step) + "): a sample has step " + std::to_string(smp.step));
  Txn t(db_);
  Writers& w = *w_;
  w.step_exists.bind(1, rec.step);
  const bool exists = w.step_exists.step();
  w.step_exists.reset();
  if (exists)
    throw FormatError("rollout store '" + path() + "' already has step " + std::to_string(rec.step) +
                      ". HINT: on resume call resume_run(checkpoint_step) first");
  w.insert_step.bind(1, rec.step).bind(2, utc_now_iso()).bind(3, static_cast<int64_t>(samples.size())).run();
  for (const auto& [k, v] : rec.metrics) {
    bind_text(w.insert_metric.bind(1, rec.step), 2, k);
    if (std::isfinite(v)) w.insert_metric.bind(3, v); else w.insert_metric.bind_null(3);
    w.insert_metric.run();
  }
  std::set<int64_t> checked_prompts;
  nlohmann::json seg;
  for (const auto& smp : samples) {
    if (checked_prompts.insert(smp.prompt_id).second) {
      w.prompt_exists.bind(1, smp.prompt_id);
      const bool ok = w.prompt_exists.step();
      w.prompt_exists.reset();
      if (!ok)
        throw FormatError("write_step(" + std::to_string(rec.step) + "): prompt id " + std::to_string(smp.prompt_id) +
                          " is not in the prompts table. HINT: call upsert_prompts() first");
    }
    seg = nlohmann::json::array();
    for (const auto& g : smp.segments) seg.push_back({{"policy_version", g.policy_version}, {"n_tokens", g.n_tokens}});
    const int n_seg = smp.segments.empty() ? 1 : static_cast<int>(smp.segments.size());
    Stmt& s = w.insert_sample;
    s.bind(1, smp.step).bind(2, smp.prompt_id).bind(3, smp.group_id).bind(4, smp.group_index)
        .bind(6, smp.n_tokens).bind(8, smp.reward).bind(9, smp.correct ? 1 : 0)
        .bind(10, smp.advantage).bind(11, smp.policy_version_min).bind(12, smp.policy_version_max).bind(13, n_seg)
        .bind(14, seg.dump());
    bind_text_and_bytes(s, 5, 15, smp.text);
    bind_text(s, 7, smp.finish_reason);
    s.run();
    const int64_t id = sqlite3_last_insert_rowid(db_.raw());
    for (const auto& [comp, v] : smp.reward_components) {
      bind_text(w.insert_reward.bind(1, id), 2, comp);
      if (v && std::isfinite(*v)) w.insert_reward.bind(3, *v); else w.insert_reward.bind_null(3);
      const auto err = smp.reward_errors.find(comp);
      if (err != smp.reward_errors.end()) bind_text(w.insert_reward, 4, err->second); else w.insert_reward.bind_null(4);
      w.insert_reward.run();
    }
    for (const auto& [comp, why] : smp.reward_errors)
      if (!smp.reward_components.count(comp))
        throw FormatError("write_step(" + std::to_string(rec.step) + "): sample has an error for reward component '" +
                          comp + "' but no value entry for it");
  }
  t.commit();
}

void RolloutStore::write_eval(const EvalRecord& rec) {
  require_writable(*this);
  Txn t(db_);
  bind_text(bind_text(w_->delete_eval.bind(1, rec.step), 2, rec.split), 3, rec.stage).run();
  for (const auto& [k, v] : rec.metrics) {
    Stmt& s = w_->insert_eval;
    bind_text(bind_text(bind_text(s.bind(1, rec.step), 2, rec.split), 3, rec.stage), 4, k);
    if (std::isfinite(v)) s.bind(5, v); else s.bind_null(5);
    s.run();
  }
  t.commit();
}

int64_t RolloutStore::last_step() const {
  Stmt s = db_.prepare("SELECT max(step) FROM steps");
  s.step();
  return s.is_null(0) ? -1 : s.i64(0);
}

void RolloutStore::truncate_after(int64_t step) {
  require_writable(*this);
  Txn t(db_);
  for (const char* sql : {"DELETE FROM sample_rewards WHERE sample_id IN (SELECT id FROM samples WHERE step > ?1)",
                          "DELETE FROM samples WHERE step > ?1", "DELETE FROM step_metrics WHERE step > ?1",
                          "DELETE FROM evaluations WHERE step > ?1", "DELETE FROM steps WHERE step > ?1"})
    db_.prepare(sql).bind(1, step).run();
  t.commit();
}

int RolloutStore::schema_version() const { return static_cast<int>(db_.scalar_i64("PRAGMA user_version")); }

// ---- sample metrics --------------------------------------------------------------------------------------------------
double quantile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(p, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

void add_sample_metrics(StepRecord& rec, const std::vector<SampleRecord>& samples, int policy_version) {
  if (samples.empty()) return;
  auto put = [&](const std::string& k, double v) { rec.metrics.emplace(k, v); };
  const double n = static_cast<double>(samples.size());
  double rsum = 0, rsq = 0, correct = 0, truncated = 0, stale = 0;
  std::vector<double> lens;
  std::map<std::string, std::pair<double, int>> comps;
  std::map<int64_t, bool> prompt_pass;
  for (const auto& s : samples) {
    rsum += s.reward;
    rsq += s.reward * s.reward;
    correct += s.correct ? 1 : 0;
    truncated += s.finish_reason == "length" ? 1 : 0;
    stale += policy_version - s.policy_version_min;
    lens.push_back(s.n_tokens);
    for (const auto& [c, v] : s.reward_components)
      if (v) {
        comps[c].first += *v;
        comps[c].second += 1;
      }
    prompt_pass[s.prompt_id] = prompt_pass[s.prompt_id] || s.correct;
  }
  const double mean = rsum / n;
  put(metric::kRewardMean, mean);
  put(metric::kRewardStd, std::sqrt(std::max(0.0, rsq / n - mean * mean)));
  for (const auto& [c, sv] : comps) put("reward/" + c, sv.first / sv.second);
  put(metric::kAccuracy, correct / n);
  double passed = 0;
  for (const auto& [id, ok] : prompt_pass) passed += ok ? 1 : 0;
  put(metric::kPassRate, passed / static_cast<double>(prompt_pass.size()));
  double lsum = 0, lmax = 0;
  for (double l : lens) {
    lsum += l;
    lmax = std::max(lmax, l);
  }
  put(metric::kLenMean, lsum / n);
  put(metric::kLenP90, quantile(lens, 0.9));
  put(metric::kLenMax, lmax);
  put(metric::kTruncatedFrac, truncated / n);
  if (policy_version >= 0) put(metric::kStaleness, stale / n);
}

}  // namespace reasonrl::store
