// trainer.cpp: the RL training loop (GRPO family and Kimi k1.5) over the rollout engine, rewards, prompt sampler,
// RL algorithms and the rollout store.
#include "rl/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "datasets/prompt_template.h"
#include "datasets/tokenizer.h"
#include "model/model.h"
#include "policy/model_decoder.h"
#include "policy/replay_buffer.h"
#include "policy/rollout.h"
#include "rewards/manager.h"
#include "rewards/reward_errors.h"
#include "rl/dist/shard.h"
#include "rl/core/rl.h"
#include "rl/store/store.h"
#include "rl/train/checkpoint_state.h"
#include "rl/train/interrupt.h"
#include "rl/train/metrics.h"
#include "rl/train/response_logprob.h"
#include "rl/train/rollout_batch.h"
#include "rl/train/routing_metrics.h"
#include "rl/train/run_dir.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"
#include "rl/util/rng.h"
#include "sampler/pass_rates.h"

namespace fs = std::filesystem;

namespace reasonrl::train {

void TrainConfig::validate() const {
  if (steps < 0) throw ConfigError("train: steps must be >= 0");
  if (threads < 0) throw ConfigError("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (save_every < 0) throw ConfigError("save_every must be >= 0 (0 = at the end only), got " + std::to_string(save_every));
  if (keep_checkpoints < 0)
    throw ConfigError("keep_checkpoints must be >= 0 (0 = keep all), got " + std::to_string(keep_checkpoints));
  if (stop_after < 0) throw ConfigError("stop_after must be >= 0 (0 = off), got " + std::to_string(stop_after));
  if (prompts_per_step < 1) throw ConfigError("train: prompts_per_step must be >= 1");
  if (partial_rollout_groups < 0) throw ConfigError("train: partial_rollout_groups must be >= 0 (0 = prompts_per_step)");
  if (micro_batch_size < 1) throw ConfigError("train: micro_batch_size must be >= 1");
  if (expert_change_probe < 0) throw ConfigError("train: expert_change_probe must be >= 0 (0 = off), got " +
                                                 std::to_string(expert_change_probe));
  if (ppo_mini_batch_size < 0) throw ConfigError("train: ppo_mini_batch_size must be >= 0 (0 = prompts_per_step)");
  if (ppo_mini_batch_size > 0 && prompts_per_step % ppo_mini_batch_size != 0)
    throw ConfigError("train: ppo_mini_batch_size (" + std::to_string(ppo_mini_batch_size) +
                      ") must divide prompts_per_step (" + std::to_string(prompts_per_step) + ")");
  if (rollout.num_generations < 2)
    throw ConfigError("rollout.num_generations must be >= 2 for training (group-relative advantages need a group), got " +
                      std::to_string(rollout.num_generations));
  if (rl.dynamic_sampling && rollout.partial_rollout)
    throw ConfigError("rl.dynamic_sampling together with rollout.partial_rollout is not supported: choose one");
  rl_train_kernel();  // a forced fused / packed kernel with the entropy bonus is an error here, before the run starts
}

std::vector<std::string> TrainConfig::warnings() const {
  std::vector<std::string> out;
  // Kimi's tau term is tau * (S - S_ref) (kimi_loss.h), and S = S_ref at an iteration's first optimizer step.
  if (rl.algorithm == rl::Algorithm::Kimi && rl.kimi_tau != 0 && rl.num_iterations == 1 &&
      (ppo_mini_batch_size == 0 || ppo_mini_batch_size >= prompts_per_step))
    out.push_back("rl.algorithm kimi with one optimizer step per rollout step (rl.num_iterations 1, ppo_mini_batch_size " +
                  std::to_string(ppo_mini_batch_size) + ", prompts_per_step " + std::to_string(prompts_per_step) +
                  "): rl.kimi_tau has no effect, its term is 0 at an iteration's first step" +
                  (rl.kimi_reset_optimizer ? ", and with the moment reset each step is Adam's first (lr * sign of the "
                                             "gradient)" : std::string()) +
                  ". For tau to act, set ppo_mini_batch_size below prompts_per_step or rl.num_iterations above 1");
  return out;
}

// The kernel of every log-prob pass of the RL step (old, reference, update: one kernel, so the ratio at the first
// update is exactly 1). The entropy bonus needs the entropies' gradient, which only the full path gives: auto picks
// full then, a forced fused / packed kernel is a ConfigError; so does deterministic mode (the fused head is not
// batch-invariant).
TrainKernel TrainConfig::rl_train_kernel() const {
  if (deterministic && (train_kernel == TrainKernel::Fused || train_kernel == TrainKernel::Packed))
    throw ConfigError("train_kernel " + std::string(enum_to_string(train_kernel)) +
                      " cannot be used with deterministic: true (the fused head sums the logits in another order than "
                      "the rollout's decode): use train_kernel full or auto");
  if (rl.entropy_coeff <= 0 && !deterministic) return train_kernel;
  if (train_kernel == TrainKernel::Fused || train_kernel == TrainKernel::Packed)
    throw ConfigError("train_kernel " + std::string(enum_to_string(train_kernel)) +
                      " cannot be used with rl.entropy_coeff > 0 (the fused head gives no entropy gradient): use "
                      "train_kernel full or auto");
  return TrainKernel::Full;
}

namespace {

constexpr const char* kTrainerStateFormat = "reasonrl.trainer_state";

// What one step carries from stage to stage besides its batch.
struct StepState {
  long step = 0;                 // steps completed before this one
  int version = 0;               // the policy version that generates (= step)
  double t_start = 0;
  StageTimer timer;
  Metrics mt;
  policy::RolloutStats rollout;  // summed over the step's generation rounds (and ranks)
  rewards::RewardErrorCounts reward_errors;  // over every sample scored in the step (every round, kept or not)
  std::string first_reward_error;            // "name: message" of the step's first failure on this rank
};

// Sums over the optimizer steps of one update (for its metrics).
struct UpdateSums {
  rl::LossStats stats;
  double loss = 0, grad_norm = 0, entropy = 0, entropy_tokens = 0;
  double entropy_loss = 0;  // the entropy bonus term, part of loss (rl.entropy_coeff > 0)
  int opt_steps = 0;
  std::vector<float> violation;  // the MoE load violation after the last router-bias update
  RouteCounts expert_change;     // the probe's top-k choices changed, over the optimizer steps
  RouteCounts routes, own_routes;  // old log-probs from the update (on-policy): routes vs the rollout's, its forward
};

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, bool resume, std::string config_changes)
      : cfg_(cfg), resume_(resume), config_changes_(std::move(config_changes)) {
    cfg_.rl.max_completion_length = cfg_.rollout.max_completion_length;  // Dr.GRPO's L is the generation budget
  }

  TrainResult run();

 private:
  void setup();
  void load_state(const json& st, const std::string& dir);
  void save_state(long step);
  void open_outputs(const std::string& src);
  EvalResult evaluate(long step, bool first_or_last);

  // One RL step, stage by stage, in this order (the stage timers carry the same names).
  long step_once(long step);
  RolloutBatch generate_batch(StepState& st);  // rounds of generate + score until dynamic sampling has its groups
  policy::RolloutResult generate(StepState& st, int n_new, int round);
  std::vector<RolloutSample> score(StepState& st, std::vector<policy::Trajectory>& trajs);
  // On policy (one pass, one mini-batch) the policy does not change before the update's first forward, so that forward
  // gives the old log-probs and the separate no-gradient pass is skipped (TRL's num_iterations = 1 shortcut), unless
  // something needs them before the update (rl.kl_mode reward, rl.rollout_rs). Same forward, same micro-batches:
  // bit-identical values, and the router loads only halve (the bias update uses their signs around the mean).
  bool old_logp_from_update(const RolloutBatch& batch) const;
  int groups_per_mini(const RolloutBatch& batch) const;  // prompts per optimizer step (ppo_mini_batch_size, 0 = all)
  void logprobs(StepState& st, RolloutBatch& batch);
  void advantages(RolloutBatch& batch);
  void loss_masks(StepState& st, RolloutBatch& batch);
  void update(StepState& st, RolloutBatch& batch);
  void accumulate_gradient(ResponseLogprobRunner& runner, RolloutBatch& batch, size_t a, size_t b, bool first_pass,
                           bool fill_old_logp, UpdateSums& sums);
  void logprob_metrics(StepState& st, const RolloutBatch& batch, RouteCounts routes, RouteCounts own);
  double optimizer_step(std::vector<float>& violation);
  void record(StepState& st, const RolloutBatch& batch);
  void account_reward_errors(StepState& st, RolloutBatch& batch);

  TrainConfig cfg_;
  bool resume_;
  std::string config_changes_;  // resume with --override-resumed-config: what changed (JSON), for the store
  bool from_scratch_ = false;  // --resume of a run that stopped before its first checkpoint
  TaskData data_;
  std::unique_ptr<datasets::PromptTemplate> tpl_;
  datasets::Tokenizer tok_;
  std::string tok_text_;  // tokenizer.json as read (copied into checkpoints byte for byte: resumed runs write the same)
  std::unique_ptr<model::Model> policy_, ref_;
  std::unique_ptr<model::AdamW> opt_;
  model::AdamWConfig optc_;
  std::unique_ptr<sampler::PromptSampler> sampler_;
  std::unique_ptr<rewards::RewardManager> rewards_;
  std::unique_ptr<policy::ModelDecoder> decoder_;
  std::unique_ptr<RouteProbe> probe_;  // MoE: moe/expert_change_rate (null when off or dense)
  policy::ReplayBuffer buffer_;
  std::optional<store::RolloutStore> store_;
  std::unique_ptr<MetricsWriter> metrics_, evals_;
  Rng rng_;
  long start_step_ = 0;
  int max_prompt_len_ = 0;
  std::vector<std::vector<int32_t>> prompt_ids_;  // per training example
  Metrics last_metrics_;
  rewards::RewardErrorLog reward_log_;
};

void Trainer::setup() {
  setup_threads(cfg_.threads);
  const bool root = dist::dist().is_root();
  std::string src = cfg_.init_from;
  if (resume_) {
    src = latest_checkpoint(cfg_.run_dir);
    if (src.empty()) {
      if (run_files_present(cfg_.run_dir, {cfg_.store.file}).empty())
        throw ConfigError("--resume: run directory '" + cfg_.run_dir + "' holds no run to resume: start it without --resume");
      if (root)
        log_warn("--resume: '{}' has no checkpoint yet (the run stopped before its first one): starting it from scratch",
                 cfg_.run_dir);
      resume_ = false;
      from_scratch_ = true;
      src = cfg_.init_from;
    }
  } else if (root) {
    require_fresh_run_dir(cfg_.run_dir, "train", {cfg_.store.file});
  }
  if (src.empty()) throw ConfigError("train: init_from (an SFT checkpoint directory) is required");
  if (dist::dist().size > 1 && cfg_.rollout.partial_rollout)
    throw ConfigError("rollout.partial_rollout is not supported with several MPI ranks (each process would hold its own "
                      "replay buffer): turn it off or run one process");
  data_ = load_task_data(cfg_.data);
  tpl_ = std::make_unique<datasets::PromptTemplate>(cfg_.data.prompt_template);
  // every check of the checkpoint (state, checksums, tokenizer, finite weights) before anything is written
  json state;
  with_last_good_checkpoint(resume_ ? cfg_.run_dir : "", kTrainerStateFormat, [&] {
    if (resume_) state = read_checkpoint_state(src, kTrainerStateFormat);
    tok_ = datasets::Tokenizer::load(src + "/tokenizer.json");
    tok_text_ = read_file(src + "/tokenizer.json");
    if (resume_) check_tokenizer(state, src); else verify_checkpoint_dir(src);
    policy_ = model::load_model(src);
  });
  {
    model::ModelConfig knobs = policy_->config();
    knobs.mtp_loss_weight = 0;  // the MTP head is a pre-training/SFT signal; RL trains the main head only
    policy_->set_training_knobs(knobs);
    policy_->set_deterministic(cfg_.deterministic);  // the rollout decodes with this model too (and ref_ copies it)
  }
  if (rl::needs_reference(cfg_.rl)) ref_ = std::make_unique<model::Model>(*policy_);
  // a forced fused / packed kernel that cannot give the sampler's (truncated) log-probs fails before the first step
  resolve_train_kernel(cfg_.train_kernel, policy_->config().vocab_size, 0, cfg_.rollout.sampling());
  optc_ = cfg_.optim;
  if (optc_.max_steps == 0) optc_.max_steps = cfg_.steps;
  opt_ = std::make_unique<model::AdamW>(optc_);
  rewards_ = std::make_unique<rewards::RewardManager>(cfg_.rewards);

  prompt_ids_.reserve(data_.train.size());
  for (size_t i = 0; i < data_.train.size(); ++i) {
    const auto ids = tpl_->encode_prompt(tok_, data_.train[i]);
    prompt_ids_.emplace_back(ids.begin(), ids.end());
    max_prompt_len_ = std::max(max_prompt_len_, int(ids.size()));
  }
  // Difficulty labels, and the starting success rates of sampler.pass_rates (a `reasonrl difficulty` table).
  sampler_ = sampler::make_prompt_sampler(cfg_.sampler, sampler::make_prompt_meta(data_.train, cfg_.sampler));

  policy::RolloutConfig rc = cfg_.rollout;
  if (rc.stop_token_ids.empty()) rc.stop_token_ids = stop_ids(tok_);
  cfg_.rollout = rc;
  policy::RolloutEngine probe(rc);
  // every prompt (train, and the held-out ones evaluated) fits with its completion budget: name the one that does not
  const int max_pos = policy_->config().max_position_embeddings;
  check_prompts_fit(data_.train, tok_, *tpl_, rc.max_completion_length, max_pos, "rollout.max_completion_length");
  const size_t n_eval = std::min(data_.heldout.size(), size_t(std::max(cfg_.eval.size, 0)));
  check_prompts_fit({data_.heldout.begin(), data_.heldout.begin() + long(n_eval)}, tok_, *tpl_,
                    cfg_.eval.max_completion_length, max_pos, "eval.max_completion_length");
  const int max_seq = max_prompt_len_ + rc.max_completion_length + 1;
  if (max_seq > policy_->config().max_position_embeddings)
    throw ConfigError("prompt (" + std::to_string(max_prompt_len_) + " tokens) + rollout.max_completion_length (" +
                      std::to_string(rc.max_completion_length) + ") exceeds the model's max_position_embeddings (" +
                      std::to_string(policy_->config().max_position_embeddings) + ")");
  decoder_ = std::make_unique<policy::ModelDecoder>(*policy_, probe.slots_needed(), max_seq);
  if (cfg_.rl.router_replay == rl::RouterReplay::Rollout && policy_->route_width() == 0)
    throw ConfigError("rl.router_replay = rollout needs an MoE policy, but the model of " + src +
                      " is dense (first_k_dense_replace " + std::to_string(policy_->config().first_k_dense_replace) +
                      " >= num_hidden_layers " + std::to_string(policy_->config().num_hidden_layers) +
                      "): set rl.router_replay to none");
  if (cfg_.expert_change_probe > 0 && policy_->route_width() > 0)
    probe_ = std::make_unique<RouteProbe>(std::vector<std::vector<int32_t>>(
        prompt_ids_.begin(), prompt_ids_.begin() + long(std::min(prompt_ids_.size(), size_t(cfg_.expert_change_probe)))));
  rng_.reseed(Rng::derive_seed(cfg_.seed, 21));

  if (resume_) with_last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat, [&] { load_state(state, src); });
  if (root) open_outputs(src);  // data parallel: rank 0 alone owns the run directory (config, metrics, store)
  if (root)
    for (const std::string& w : cfg_.warnings()) log_warn("{}", w);
  log_info("train: {} params ({} active), {} training prompts, {} held-out, reference model: {}", policy_->num_params(),
           policy_->num_active_params(), data_.train.size(), data_.heldout.size(), ref_ ? "yes" : "no");
}

// The run directory's outputs, after every check passed: the store (checked against the checkpoint before it is
// changed), config.json, metrics.jsonl and evals.jsonl (cut back to the checkpoint's step on resume).
void Trainer::open_outputs(const std::string& src) {
  if (cfg_.store.enabled) {
    store_.emplace(store::RolloutStore::open(cfg_.run_dir + "/" + cfg_.store.file, false, cfg_.store));
    if (resume_ && store_->run_info() && store_->last_step() < start_step_)
      throw FormatError("the rollout store '" + store_->path() + "' ends at step " + std::to_string(store_->last_step()) +
                        " but the checkpoint " + src + " is at step " + std::to_string(start_step_) +
                        " (steps are stored before their checkpoint): the checkpoint's step or the store is wrong");
  }
  make_dirs(cfg_.run_dir + "/checkpoints");
  if (resume_) {
    warn_if_config_differs(cfg_.run_dir, config_to_json(cfg_));
    truncate_metrics_file(cfg_.run_dir + "/metrics.jsonl", start_step_);
    truncate_metrics_file(cfg_.run_dir + "/evals.jsonl", start_step_);
  } else {
    save_resolved_config(cfg_.run_dir, config_to_json(cfg_), "train");
  }
  metrics_ = std::make_unique<MetricsWriter>(cfg_.run_dir + "/metrics.jsonl", resume_);
  evals_ = std::make_unique<MetricsWriter>(cfg_.run_dir + "/evals.jsonl", resume_);

  if (store_) {
    if (resume_) {
      store_->resume_run(start_step_, "reasonrl 0.1.0", config_to_json(cfg_).dump(), config_changes_);
    } else if (from_scratch_ && store_->run_info()) {
      store_->resume_run(-1, "reasonrl 0.1.0", config_to_json(cfg_).dump(), config_changes_);  // the steps of the attempt that never reached a checkpoint go
    } else {
      store::RunInfo info;
      info.name = fs::path(cfg_.run_dir).filename().string();
      info.config_json = config_to_json(cfg_).dump();
      info.version = "reasonrl 0.1.0";
      info.seed = int64_t(cfg_.seed);
      store_->begin_run(info);
      std::vector<store::PromptRecord> prs;
      prs.reserve(data_.train.size());
      for (size_t i = 0; i < data_.train.size(); ++i) {
        store::PromptRecord p;
        p.id = int64_t(i);
        p.dataset = data_.train[i].task;
        p.source_id = data_.train[i].id;
        p.text = data_.train[i].prompt;
        p.gold = data_.train[i].answer;
        p.difficulty = data_.train[i].difficulty;
        prs.push_back(std::move(p));
      }
      store_->upsert_prompts(prs);
    }
  }
}

void Trainer::save_state(long step) {
  json st;
  st["rng"] = rng_.to_json();
  st["sampler"] = sampler_->state();
  st["replay_buffer"] = buffer_.to_json();
  std::vector<const model::Model*> models = {policy_.get()};
  if (ref_) models.push_back(ref_.get());
  commit_checkpoint(checkpoint_dir(cfg_.run_dir, step), kTrainerStateFormat, step, st, models,
                    [&](const std::string& tmp) {
                      model::save_checkpoint(*policy_, tmp);
                      write_file_atomic(tmp + "/tokenizer.json", tok_text_);  // the bytes it came as
                      opt_->save(tmp + "/" + model::kOptimizerFile);
                      if (ref_) model::save_checkpoint(*ref_, tmp + "/reference");
                    });
  set_latest_checkpoint(cfg_.run_dir, step);
  prune_checkpoints(cfg_.run_dir, cfg_.keep_checkpoints);
}

// st: the checkpoint's state, already validated and its files verified (read_checkpoint_state).
void Trainer::load_state(const json& st, const std::string& dir) {
  try {
    start_step_ = st.at("step").get<long>();
    rng_.from_json(st.at("rng"));
    sampler_->load_state(st.at("sampler"));
    buffer_.from_json(st.at("replay_buffer"));
  } catch (const nlohmann::json::exception& e) {  // a missing key or a value of the wrong type
    throw FormatError(dir + "/" + kStateFile + ": damaged trainer state: " + e.what());
  }
  opt_->load(dir + "/" + model::kOptimizerFile, *policy_);
  if (ref_) {
    if (!fs::exists(dir + "/reference")) throw FormatError(dir + ": the config needs a reference model but the checkpoint has none");
    model::load_weights(*ref_, dir + "/reference");
  }
  log_info("resumed from {} at step {} ({} groups in the replay buffer)", dir, start_step_, buffer_.num_groups());
}

EvalResult Trainer::evaluate(long step, bool first_or_last) {
  EvalResult er = evaluate_greedy(*policy_, tok_, *tpl_, data_.heldout, cfg_.eval, pass_k_due(cfg_.eval, step, first_or_last));
  if (cfg_.eval.save_samples && dist::dist().is_root()) write_eval_samples(cfg_.run_dir, step, data_.heldout, er);
  const auto items = eval_metric_items(er);
  Metrics em;
  for (const auto& [k, v] : items) em.set("eval/" + k, v);
  evals_->write(step, em);
  if (store_) {
    store::EvalRecord rec;
    rec.step = step;
    rec.split = "heldout";
    rec.metrics.insert(items.begin(), items.end());
    store_->write_eval(rec);
  }
  log_eval(step, er);
  return er;
}

// ---- one step: generate -> score -> (dynamic sampling) -> logprobs -> advantages -> update -> record ----

long Trainer::step_once(long step) {
  StepState st;
  st.step = step;
  st.version = int(step);
  st.t_start = now_seconds();
  if (rl::reset_optimizer_now(cfg_.rl, step)) opt_->reset_moments();
  if (ref_ && rl::refresh_reference_now(cfg_.rl, step)) ref_->copy_params_from(*policy_);
  RolloutBatch batch = generate_batch(st);
  account_reward_errors(st, batch);
  logprobs(st, batch);
  advantages(batch);
  loss_masks(st, batch);
  if (batch.groups_all_ranks() > 0) update(st, batch);  // every rank's groups (this rank may have none)
  record(st, batch);
  return step + 1;
}

// Generation rounds until the step has prompts_per_step groups (DAPO dynamic sampling: more rounds while too few
// groups are informative; one round without it). Data parallel: this rank generates groups rank, rank + N, ... of each
// round; the sampler and dynamic sampling see every rank's groups, so they stay replicated.
RolloutBatch Trainer::generate_batch(StepState& st) {
  const int G = cfg_.rollout.num_generations;
  rl::DynamicSampler ds(cfg_.rl, cfg_.prompts_per_step);
  RolloutBatch batch(G);
  st.reward_errors = rewards::RewardErrorCounts(rewards_->names());
  int round = 0;
  while (!ds.done()) {
    int n_new = ds.groups_needed();
    if (cfg_.rollout.partial_rollout) {
      const int in_flight = cfg_.partial_rollout_groups > 0 ? cfg_.partial_rollout_groups : cfg_.prompts_per_step;
      n_new = std::max(0, in_flight - int(buffer_.num_groups()));
    }
    policy::RolloutResult rr = generate(st, n_new, round);
    std::vector<RolloutSample> scored = score(st, rr.trajectories);
    const RoundGroups groups = RoundGroups::gather(scored, G);
    const int n_groups = int(groups.prompt_ids.size());
    // success statistics for the prompt sampler come from every scored group (kept or not)
    for (int g = 0; g < n_groups; ++g)
      sampler_->update(groups.prompt_ids[size_t(g)], groups.n_correct[size_t(g)], G, int(st.step));
    batch.add_kept(scored, ds.add_round(groups.rewards, rl::uniform_group_sizes(n_groups, G)));
    ++round;
    if (n_new == 0 && scored.empty()) break;
  }
  if (dist::dist().size > 1) dist::allreduce(st.rollout);
  st.mt.set("rollout/rounds", round);
  if (cfg_.rl.dynamic_sampling) {
    st.mt.set("rollout/groups_kept", ds.kept());
    st.mt.set("rollout/frac_zero_std", ds.frac_zero_std());
  }
  return batch;
}

// G responses to each of n_new new prompts (this rank's share), plus the partial groups the replay buffer resumes.
policy::RolloutResult Trainer::generate(StepState& st, int n_new, int round) {
  sampler_->set_step(int(st.step));
  std::vector<int> ids = sampler_->sample(n_new, rng_);
  if (dist::dist().size > 1) ids = dist::shard(ids);
  std::vector<policy::Prompt> prompts;
  for (int id : ids) prompts.push_back({int64_t(id), prompt_ids_[size_t(id)]});
  policy::RolloutConfig rcfg = cfg_.rollout;
  rcfg.seed = Rng::derive_seed(cfg_.seed, 31, uint64_t(st.step) * 64 + uint64_t(round));
  policy::RolloutEngine engine(rcfg);
  policy::RolloutResult rr;
  {
    auto sc = st.timer.time("generate");
    rr = engine.generate(*decoder_, prompts, st.version, cfg_.rollout.partial_rollout ? &buffer_ : nullptr);
  }
  const auto& s = rr.stats;
  st.rollout.tokens_generated += s.tokens_generated;
  st.rollout.rows_computed += s.rows_computed;
  st.rollout.n_partial += s.n_partial;
  st.rollout.n_restarted += s.n_restarted;
  st.rollout.decode_seconds += s.decode_seconds;  // this rank's (metrics come from rank 0)
  st.rollout.sample_seconds += s.sample_seconds;
  st.rollout.prefill_seconds += s.prefill_seconds;
  st.rollout.mean_token_staleness = s.mean_token_staleness;
  st.rollout.mean_trajectory_staleness = s.mean_trajectory_staleness;
  return rr;
}

// Decodes the trajectories and scores them as one batch of groups (G consecutive per prompt: plugins with workers > 1
// score the groups in parallel); they move into the samples.
std::vector<RolloutSample> Trainer::score(StepState& st, std::vector<policy::Trajectory>& trajs) {
  auto sc = st.timer.time("score");
  const size_t G = size_t(cfg_.rollout.num_generations);
  std::vector<RolloutSample> out(trajs.size());
  std::vector<std::vector<rewards::RewardInput>> groups;
  for (size_t g0 = 0; g0 < trajs.size(); g0 += G) {
    std::vector<rewards::RewardInput>& group = groups.emplace_back();
    for (size_t k = g0; k < g0 + G; ++k) {
      RolloutSample& s = out[k];
      s.traj = std::move(trajs[k]);
      const auto& e = data_.train[size_t(s.traj.prompt_id)];
      s.text = tok_.decode(std::vector<int>(s.traj.tokens.begin(), s.traj.tokens.end()), true);
      group.push_back(make_reward_input(e, tpl_->prompt(e), s.text, s.traj.length(), cfg_.rollout.max_completion_length,
                                        enum_to_string(s.traj.finish)));
    }
  }
  const auto all = rewards_->score_groups(groups);
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& res = all[g];
    const size_t g0 = g * G;
    if (res.size() != G) throw Error("rewards: " + std::to_string(res.size()) + " scores for a group of " + std::to_string(G));
    for (size_t k = 0; k < G; ++k) {
      out[g0 + k].reward = res[k];
      st.reward_errors.add(res[k]);
      if (res[k].errors.empty()) continue;
      if (st.first_reward_error.empty()) st.first_reward_error = res[k].error;
      reward_log_.note(res[k], fmt::format("step {}, prompt {}, sample {}", st.step + 1, out[g0 + k].traj.prompt_id, k));
    }
  }
  return out;
}

// The step's reward failures: counted per component over every rank (reward/errors/<name>, reward/error_frac),
// bounded (rewards.on_error fail: a RewardError past rewards.max_error_fraction, before the update), and the failed
// samples of the batch left out of the loss (skip_sample, and fail under the bound): mask 0, and their group's
// advantages computed over its other samples.
void Trainer::account_reward_errors(StepState& st, RolloutBatch& batch) {
  rewards::RewardErrorCounts& c = st.reward_errors;
  if (dist::dist().size > 1) {
    std::vector<double> v = c.per_component;
    v.push_back(c.samples);
    v.push_back(c.failed_samples);
    dist::dist().allreduce_sum(v.data(), v.size());
    c.failed_samples = v.back();
    v.pop_back();
    c.samples = v.back();
    v.pop_back();
    c.per_component = v;
  }
  for (size_t k = 0; k < c.names.size(); ++k) st.mt.set("reward/errors/" + c.names[k], c.per_component[k]);
  st.mt.set("reward/error_frac", c.fraction());
  if (dist::dist().is_root()) reward_log_.flush(fmt::format("step {}", st.step + 1));
  rewards::check_error_fraction(cfg_.rewards, c, fmt::format("step {}", st.step + 1),
                                st.first_reward_error.empty() ? "on another rank" : st.first_reward_error);
  for (auto& s : batch.samples())
    if (rewards::skip_failed_sample(cfg_.rewards, s.reward)) {
      s.skipped = true;
      std::fill(s.mask.begin(), s.mask.end(), 0.0f);
    }
}

int Trainer::groups_per_mini(const RolloutBatch& batch) const {
  return cfg_.ppo_mini_batch_size > 0 ? cfg_.ppo_mini_batch_size : batch.groups_all_ranks();
}

bool Trainer::old_logp_from_update(const RolloutBatch& batch) const {
  const auto& rc = cfg_.rl;
  return rc.num_iterations == 1 && groups_per_mini(batch) >= batch.groups_all_ranks() && batch.groups_all_ranks() > 0 &&
         !(ref_ && rc.kl_mode == rl::KlMode::Reward) && rc.rollout_rs == rl::RolloutRs::None;
}

// Old (the policy before this step's updates) and reference log-probs, no gradient. The old ones are skipped when the
// update's first forward gives them (old_logp_from_update).
void Trainer::logprobs(StepState& st, RolloutBatch& batch) {
  const bool old = !old_logp_from_update(batch);
  if (!old && !ref_) return;
  {
    auto sc = st.timer.time("logprobs");
    const std::vector<ResponseSeq> seqs = batch.seqs(0, batch.size());
    const policy::SamplingParams sp = cfg_.rollout.sampling();
    const size_t mb = size_t(cfg_.micro_batch_size);
    if (old) {
      RouteCounts routes, own;
      auto old_logp = response_logprobs(*policy_, sp, seqs, mb, cfg_.rl_train_kernel(),
                                        cfg_.rl.router_replay == rl::RouterReplay::Rollout, &routes, &own);
      for (size_t i = 0; i < batch.size(); ++i) batch[i].old_logp = std::move(old_logp[i]);
      logprob_metrics(st, batch, routes, own);
    }
    if (ref_) {
      auto ref_logp = response_logprobs(*ref_, sp, seqs, mb, cfg_.rl_train_kernel());
      for (size_t i = 0; i < batch.size(); ++i) batch[i].ref_logp = std::move(ref_logp[i]);
    }
  }
}

// How far the trainer's old log-probs are from the sampler's (same weights: only numerics and truncation differ), and
// (MoE) the (token, layer) pairs whose top-k set differs from the rollout's, over every rank.
void Trainer::logprob_metrics(StepState& st, const RolloutBatch& batch, RouteCounts routes, RouteCounts own) {
  if (policy_->route_width() > 0) {
    double v[4] = {double(routes.pairs), double(routes.pairs_differ), double(own.pairs), double(own.pairs_differ)};
    if (dist::dist().size > 1) dist::dist().allreduce_sum(v, 4);
    st.mt.set("moe/route_mismatch", v[0] > 0 ? v[1] / v[0] : 0.0);
    st.mt.set("moe/route_mismatch_own", v[2] > 0 ? v[3] / v[2] : 0.0);
  }
  st.mt.set("rollout/logp_max_abs_diff", batch.logp_max_abs_diff());
}

// Per-sequence advantages of the rewards (KL-shaped first when rl.kl_mode is reward), over every rank's groups.
void Trainer::advantages(RolloutBatch& batch) {
  std::vector<double> shaped = batch.rewards();
  if (ref_ && cfg_.rl.kl_mode == rl::KlMode::Reward) {
    const FlatTokens f = batch.flat(0, batch.size());
    shaped = rl::kl_penalized_rewards(cfg_.rl, shaped, f.old_logp, f.ref_logp, f.mask, f.offsets);
  }
  const std::vector<double> adv = batch.advantages(cfg_.rl, shaped);
  for (size_t i = 0; i < batch.size(); ++i) batch[i].advantage = adv[i];
}

// Overlong filtering and masked IS (rl.mask_truncated_completions, rl.rollout_rs): loss masks fixed for the whole
// update, set after the advantages (a masked response still counts in its group) and before any normaliser counts.
// Their metrics appear only when the option is on, so default runs write the same metrics as before.
void Trainer::loss_masks(StepState& st, RolloutBatch& batch) {
  double truncated = 0;
  const rl::RejectionStats rs = batch.apply_loss_masks(cfg_.rl, truncated);
  if (cfg_.rl.mask_truncated_completions)  // of the step's responses (every rank's)
    st.mt.set("masked_truncated_frac", truncated / std::max(1.0, batch.count_samples(0, batch.size())));
  if (cfg_.rl.rollout_rs != rl::RolloutRs::None) {
    st.mt.set("rollout_rs/masked_token_frac", rs.token_frac());
    st.mt.set("rollout_rs/masked_seq_frac", rs.sequence_frac());
  }
}

// mu passes (rl.num_iterations, verl ppo_epochs) over the rollout batch; each pass takes one optimizer step per
// mini-batch of ppo_mini_batch_size prompts, in a fixed order. old_logp was computed once, before the first step, so
// later steps see ratios != 1 (and Kimi's tau term acts against its fixed reference).
void Trainer::update(StepState& st, RolloutBatch& batch) {
  const auto& rc = cfg_.rl;
  ResponseLogprobRunner runner(*policy_, cfg_.rollout.sampling(), cfg_.rl_train_kernel(),
                               cfg_.rl.router_replay == rl::RouterReplay::Rollout);
  if (probe_ && !probe_->has_baseline()) {  // the first step of this process: the probe's routes before it
    auto sc = st.timer.time("moe_probe");
    probe_->measure(*policy_);
  }
  const int per_mini = groups_per_mini(batch);
  const bool fill_old = old_logp_from_update(batch);
  UpdateSums sums;
  for (int it = 0; it < rc.num_iterations; ++it)
    for (const auto& [a, b] : batch.mini_batches(per_mini)) {
      {
        auto sc = st.timer.time("update");
        accumulate_gradient(runner, batch, a, b, it == 0, fill_old, sums);
      }
      auto sc = st.timer.time("optimizer");
      sums.grad_norm += optimizer_step(sums.violation);
      ++sums.opt_steps;
      if (probe_) {
        auto sp = st.timer.time("moe_probe");
        sums.expert_change += probe_->measure(*policy_);
      }
    }
  if (fill_old) logprob_metrics(st, batch, sums.routes, sums.own_routes);
  if (dist::dist().size > 1) {  // metrics over every rank's sequences
    dist::allreduce(sums.stats);
    double v[4] = {sums.loss, sums.entropy, sums.entropy_tokens, sums.entropy_loss};
    dist::dist().allreduce_sum(v, 4);
    sums.loss = v[0], sums.entropy = v[1], sums.entropy_tokens = v[2], sums.entropy_loss = v[3];
  }
  Metrics& mt = st.mt;
  mt.set("loss", sums.loss / std::max(1, sums.opt_steps));
  mt.set("grad_norm", sums.grad_norm / std::max(1, sums.opt_steps));
  mt.set("entropy", sums.entropy_tokens > 0 ? sums.entropy / sums.entropy_tokens : 0.0);
  mt.set("clip_frac", sums.stats.clip_frac());
  mt.set("clip_frac_low", sums.stats.clip_frac_low());
  mt.set("clip_frac_high", sums.stats.clip_frac_high());
  mt.set("ratio_mean", sums.stats.ratio_mean());
  mt.set("approx_kl_old", sums.stats.approx_kl_old());
  mt.set("kl", sums.stats.kl_ref());
  if (rl::needs_rollout_logp(rc)) mt.set("tis_weight_mean", sums.stats.tis_weight_mean());
  if (rc.tis_cap > 0) mt.set("tis_truncated_frac", sums.stats.tis_truncated_frac());
  if (rc.entropy_coeff > 0) mt.set("entropy_loss", sums.entropy_loss / std::max(1, sums.opt_steps));
  double vmax = 0;
  for (float v : sums.violation) vmax = std::max<double>(vmax, v);
  mt.set("moe/max_violation", vmax);
  if (probe_) mt.set("moe/expert_change_rate", sums.expert_change.change_rate());
  mt.set("lr", optc_.lr_at(std::max<long>(0, opt_->schedule_step() - 1)));
}

// The gradient of one optimizer step's loss over samples [a, b) (a mini-batch), micro-batch by micro-batch, into the
// policy's grads. The loss is normalised by the whole mini-batch's counts over every rank (verl: the loss of one
// optimizer step is the mean over its mini-batch), so the micro-batch split does not change the gradient.
// fill_old_logp: each micro-batch's forward also gives its samples' old log-probs (old_logp_from_update).
void Trainer::accumulate_gradient(ResponseLogprobRunner& runner, RolloutBatch& batch, size_t a, size_t b,
                                  bool first_pass, bool fill_old_logp, UpdateSums& sums) {
  const auto& rc = cfg_.rl;
  const rl::LossNormalizer norm = rl::make_loss_normalizer(rc, batch.token_counts(a, b));
  // the MoE balance loss is a mean over sequences: normalised by every rank's sequences of the mini-batch, like the
  // policy loss (each sequence has real tokens, so each is a row of the model's per-micro-batch mean)
  const double step_seqs = batch.count_samples(a, b);
  policy_->zero_grad();
  for (size_t i0 = a; i0 < b; i0 += size_t(cfg_.micro_batch_size)) {
    const size_t i1 = std::min(b, i0 + size_t(cfg_.micro_batch_size));
    const std::vector<ResponseSeq> seqs = batch.seqs(i0, i1);
    const bool bonus = rc.entropy_coeff > 0;  // the entropy bonus needs the entropies (and their gradient) every pass
    const ResponseLogprobs& out = runner.forward(seqs, first_pass || bonus);
    if (fill_old_logp) {
      for (size_t k = 0; k < i1 - i0; ++k)
        batch[i0 + k].old_logp.assign(out.logp.begin() + out.offsets[k], out.logp.begin() + out.offsets[k + 1]);
      sums.routes += out.routes;
      sums.own_routes += out.own_routes;
    }
    const FlatTokens f = batch.flat(i0, i1);
    for (size_t k = 0; first_pass && k < out.entropy.size(); ++k) {  // the entropy is measured on the first pass
      sums.entropy += double(out.entropy[k]) * f.mask[k];
      sums.entropy_tokens += f.mask[k];
    }
    std::vector<float> dlogp(out.logp.size(), 0.0f);
    rl::LossStats ls;
    sums.loss += rl::compute_loss(rc, f.inputs(out.logp, rl::needs_rollout_logp(rc)), norm, dlogp, &ls);
    sums.stats += ls;
    std::vector<float> dentropy;
    if (bonus) {
      dentropy.resize(out.entropy.size());
      const double el = rl::entropy_bonus(rc, out.entropy, f.mask, f.offsets, norm, dentropy);
      sums.loss += el;
      sums.entropy_loss += el;
    }
    runner.backward(dlogp, float(rl::balance_loss_scale(double(i1 - i0), step_seqs)), dentropy);
  }
}

// One optimizer step on the gradient summed over ranks, then the MoE router-bias update from every rank's expert
// loads; returns the gradient norm and writes the load violation.
double Trainer::optimizer_step(std::vector<float>& violation) {
  const long opt_step = opt_->schedule_step();  // not step_count(): Kimi's reset restarts the moments, not the schedule
  dist::allreduce_grads(*policy_);
  const double gnorm = opt_->step(*policy_, float(optc_.lr_at(opt_step)));
  if (dist::dist().size > 1) {
    auto loads = policy_->router_loads();
    dist::dist().allreduce_sum(loads.data(), loads.size());
  }
  violation = policy_->update_router_bias();
  dist::sync_router_bias(*policy_, violation);  // keeps the ranks bit-identical (rank 0's biases everywhere)
  return gnorm;
}

// The step's metrics (metrics.jsonl) and its rows in the store; rank 0 alone writes them, from every rank's rows.
void Trainer::record(StepState& st, const RolloutBatch& batch) {
  const std::vector<store::SampleRecord> samples = batch.store_rows(st.step + 1, st.version);
  if (!dist::dist().is_root()) return;
  const policy::RolloutStats& rs = st.rollout;
  store::StepRecord rec;
  rec.step = st.step + 1;
  for (const auto& [k, v] : st.mt.items()) rec.metrics[k] = v;
  store::add_sample_metrics(rec, samples, st.version);
  rec.metrics["rollout/tokens"] = double(rs.tokens_generated);
  rec.metrics["rollout/useful_fraction"] =
      rs.rows_computed > 0 ? double(rs.tokens_generated) / double(rs.rows_computed) : 0.0;
  rec.metrics["rollout/partial"] = rs.n_partial;
  rec.metrics["rollout/buffered_groups"] = double(buffer_.num_groups());
  // inside time/generate_ms: the decode steps (with the head; with sample_kernel fused also the sampling), the
  // sampler chain over their logits, and the prompts' prefill
  rec.metrics["time/generate_decode_ms"] = rs.decode_seconds * 1e3;
  rec.metrics["time/generate_sample_ms"] = rs.sample_seconds * 1e3;
  rec.metrics["time/generate_prefill_ms"] = rs.prefill_seconds * 1e3;
  rec.metrics[store::metric::kStaleness] = rs.mean_token_staleness;
  rec.metrics["samples"] = double(samples.size());
  const double step_s = now_seconds() - st.t_start;
  rec.metrics[store::metric::kTokensPerS] = double(rs.tokens_generated) / std::max(1e-9, step_s);
  {
    Metrics times;
    st.timer.put_into(times);
    for (const auto& [k, v] : times.items()) rec.metrics[k] = v;
    rec.metrics["time/step_ms"] = (now_seconds() - st.t_start) * 1e3;  // without the store write itself
  }
  if (store_) {
    auto sc = st.timer.time("store");
    store_->write_step(rec, samples);
  }
  Metrics out;
  for (const auto& [k, v] : rec.metrics) out.set(k, v);
  st.timer.put_into(out);
  metrics_->write(st.step + 1, out);
  last_metrics_ = out;
}

TrainResult Trainer::run() {
  const double t0 = now_seconds();
  std::optional<RunDirLock> lock;
  if (dist::dist().is_root()) lock.emplace(cfg_.run_dir);  // before anything is written to the run directory
  InterruptScope interrupts;
  setup();
  TrainResult res;
  const bool do_eval = cfg_.eval.size > 0 && !data_.heldout.empty() && dist::dist().is_root();
  if (start_step_ == 0 && do_eval) res.initial_eval = evaluate(0, true);
  Progress prog("train", cfg_.steps, start_step_);
  long step = start_step_;
  int done_here = 0;
  while (step < cfg_.steps) {
    try {
      step = step_once(step);
    } catch (const NumericError& e) {
      throw NumericError("step " + std::to_string(step + 1) + ": " + e.what() + "; the run stopped, the last good checkpoint is " +
                         last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat));
    } catch (const RewardError& e) {
      throw RewardError(std::string(e.what()) + ". The run stopped before the step's update; the last good checkpoint is " +
                        last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat) + " (continue with --resume)");
    }
    ++done_here;
    const auto& m = last_metrics_;
    prog.update(step, {{"reward", fmt::format("{:.3f}", m.get("reward/mean"))},
                       {"acc", fmt::format("{:.3f}", m.get("accuracy"))},
                       {"len", fmt::format("{:.1f}", m.get("len/mean"))},
                       {"kl", fmt::format("{:.4f}", m.get("kl"))},
                       {"s/step", fmt::format("{:.2f}", m.get("time/step_ms") / 1e3)}});
    const bool last = step == cfg_.steps;
    if (do_eval && cfg_.eval.every > 0 && step % cfg_.eval.every == 0 && !last) {
      prog.finish();
      evaluate(step, false);
    }
    const bool stop = !last && interrupt_signal() != 0;
    if (((cfg_.save_every > 0 && step % cfg_.save_every == 0) || last || stop) && dist::dist().is_root()) {
      try {
        save_state(step);
      } catch (const NumericError& e) {
        throw NumericError(std::string(e.what()) + "; the last good checkpoint is " +
                           last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat));
      }
    }
    if (stop) {
      prog.finish();
      store_.reset();  // closes the store (its last step is committed)
      throw_interrupted("train", step, checkpoint_dir(cfg_.run_dir, step),
                        "reasonrl train --run_dir " + cfg_.run_dir + " --resume (with the same config)");
    }
    if (cfg_.stop_after > 0 && done_here >= cfg_.stop_after && !last) {
      res.interrupted = true;
      break;
    }
  }
  prog.finish();
  if (!res.interrupted && do_eval) res.final_eval = evaluate(step, true);
  res.steps_done = step;
  res.seconds = now_seconds() - t0;
  log_info("train {} after {} steps in {:.1f}s; run directory {}", res.interrupted ? "stopped" : "done", step, res.seconds,
           cfg_.run_dir);
  return res;
}

}  // namespace

TrainResult run_train(const TrainConfig& cfg, bool resume, const std::string& config_changes) {
  Trainer t(cfg, resume, config_changes);
  return t.run();
}

}  // namespace reasonrl::train
