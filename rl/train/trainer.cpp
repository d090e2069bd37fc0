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
#include "policy/logprob.h"
#include "policy/model_decoder.h"
#include "policy/replay_buffer.h"
#include "policy/rollout.h"
#include "rewards/manager.h"
#include "rl/dist/shard.h"
#include "rl/core/rl.h"
#include "rl/store/store.h"
#include "rl/train/checkpoint_state.h"
#include "rl/train/interrupt.h"
#include "rl/train/metrics.h"
#include "rl/train/run_dir.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"
#include "rl/util/rng.h"

namespace fs = std::filesystem;

namespace reasonrl::train {

void TrainConfig::validate() const {
  if (steps < 0) throw ConfigError("train: steps must be >= 0");
  if (prompts_per_step < 1) throw ConfigError("train: prompts_per_step must be >= 1");
  if (partial_rollout_groups < 0) throw ConfigError("train: partial_rollout_groups must be >= 0 (0 = prompts_per_step)");
  if (micro_batch_size < 1) throw ConfigError("train: micro_batch_size must be >= 1");
  if (ppo_mini_batch_size < 0) throw ConfigError("train: ppo_mini_batch_size must be >= 0 (0 = prompts_per_step)");
  if (ppo_mini_batch_size > 0 && prompts_per_step % ppo_mini_batch_size != 0)
    throw ConfigError("train: ppo_mini_batch_size (" + std::to_string(ppo_mini_batch_size) +
                      ") must divide prompts_per_step (" + std::to_string(prompts_per_step) + ")");
  if (rl.num_generations != rollout.num_generations)
    throw ConfigError("rl.num_generations (" + std::to_string(rl.num_generations) + ") and rollout.num_generations (" +
                      std::to_string(rollout.num_generations) + ") must agree");
  if (rl.dynamic_sampling && rollout.partial_rollout)
    throw ConfigError("rl.dynamic_sampling together with rollout.partial_rollout is not supported: choose one");
}

namespace {

constexpr const char* kTrainerStateFormat = "reasonrl.trainer_state";

// One response in the training batch of a step.
struct Seq {
  size_t traj = 0;                  // index into the step's trajectories
  std::vector<int32_t> tokens;      // prompt + response
  int prompt_len = 0;
  int resp_len = 0;
  std::vector<float> mask;          // per response token: 1 = in the loss
  std::vector<float> rollout_logp;  // per response token, from the sampler
  std::vector<float> old_logp;      // per response token, the policy before this step's updates
  std::vector<float> ref_logp;      // per response token, the reference policy (when needed)
  double advantage = 0;
};

// Per-token log-probs of the response tokens of seqs[i0, i1) under `m` (and entropies), in one forward pass.
// If `dlogp_fn` is given, also runs the backward pass: it receives the flat per-token logp of the micro-batch and
// must write dlogp; the gradient is accumulated into m.grads().
struct MicroBatchOut {
  std::vector<float> logp;     // flat over the micro-batch's response tokens
  std::vector<float> entropy;  // same layout
};

class MicroBatchRunner {
 public:
  MicroBatchRunner(model::Model& m, const policy::SamplingParams& sp) : m_(m), sp_(sp), V_(m.config().vocab_size) {}

  // Forward over seqs[i0, i1); logp/entropy of the response tokens, flat in sequence order.
  MicroBatchOut forward(std::vector<Seq>& seqs, size_t i0, size_t i1, bool want_entropy) {
    B_ = int(i1 - i0);
    T_ = 0;
    for (size_t i = i0; i < i1; ++i) T_ = std::max(T_, int(seqs[i].tokens.size()));
    tokens_.assign(size_t(B_) * T_, 0);
    real_.assign(size_t(B_) * T_, 0.0f);
    targets_.assign(size_t(B_) * T_, -1);
    rows_.clear();
    for (int b = 0; b < B_; ++b) {
      const Seq& s = seqs[i0 + b];
      for (int t = 0; t < int(s.tokens.size()); ++t) {
        tokens_[size_t(b) * T_ + t] = s.tokens[t];
        real_[size_t(b) * T_ + t] = 1.0f;
      }
      // response token j sits at position prompt_len + j and is predicted by the logits at prompt_len + j - 1
      for (int j = 0; j < s.resp_len; ++j) {
        const size_t row = size_t(b) * T_ + size_t(s.prompt_len + j - 1);
        targets_[row] = s.tokens[size_t(s.prompt_len + j)];
        rows_.push_back(row);
      }
    }
    logits_.resize(size_t(B_) * T_ * V_);
    m_.forward(tokens_.data(), B_, T_, logits_.data(), real_.data());
    row_logp_.assign(size_t(B_) * T_, 0.0f);
    row_ent_.assign(want_entropy ? size_t(B_) * T_ : 0, 0.0f);
    policy::sampling_logprob(logits_.data(), int64_t(B_) * T_, V_, sp_, targets_.data(), row_logp_.data(),
                             want_entropy ? row_ent_.data() : nullptr);
    MicroBatchOut out;
    out.logp.resize(rows_.size());
    for (size_t k = 0; k < rows_.size(); ++k) out.logp[k] = row_logp_[rows_[k]];
    if (want_entropy) {
      out.entropy.resize(rows_.size());
      for (size_t k = 0; k < rows_.size(); ++k) out.entropy[k] = row_ent_[rows_[k]];
    }
    return out;
  }

  // Backward of the last forward: dlogp flat over its response tokens.
  void backward(const std::vector<float>& dlogp_flat, float aux_scale) {
    std::vector<float> dlogp(size_t(B_) * T_, 0.0f);
    for (size_t k = 0; k < rows_.size(); ++k) dlogp[rows_[k]] = dlogp_flat[k];
    dlogits_.resize(logits_.size());
    policy::sampling_logprob_backward(logits_.data(), int64_t(B_) * T_, V_, sp_, targets_.data(), dlogp.data(), nullptr,
                                      dlogits_.data());
    m_.backward(dlogits_.data(), aux_scale);
  }

 private:
  model::Model& m_;
  policy::SamplingParams sp_;
  int V_, B_ = 0, T_ = 0;
  std::vector<int32_t> tokens_, targets_;
  std::vector<float> real_, logits_, dlogits_, row_logp_, row_ent_;
  std::vector<size_t> rows_;
};

// Per-token log-probs of every response under `m` (no gradient), written into seqs[i].*member, micro-batch by micro-batch.
void fill_response_logp(model::Model& m, const policy::SamplingParams& sp, size_t micro_batch, std::vector<Seq>& seqs,
                        std::vector<float> Seq::*member) {
  MicroBatchRunner run(m, sp);
  for (size_t i0 = 0; i0 < seqs.size(); i0 += micro_batch) {
    const size_t i1 = std::min(seqs.size(), i0 + micro_batch);
    const MicroBatchOut out = run.forward(seqs, i0, i1, false);
    auto it = out.logp.begin();
    for (size_t i = i0; i < i1; ++i) {
      (seqs[i].*member).assign(it, it + seqs[i].resp_len);
      it += seqs[i].resp_len;
    }
  }
}

// The step's sequences of each mini-batch on this rank: mini-batch k holds the kept groups at positions
// [k * per_mini, (k + 1) * per_mini) among the step's n_kept groups (every rank's; the last may be short when a step
// kept fewer groups than prompts_per_step). kept_pos[g] is the position of local group g, increasing; a group has G
// sequences. Returns [begin, end) into the local sequences, one per mini-batch (empty where this rank has none).
std::vector<std::pair<size_t, size_t>> mini_batch_ranges(const std::vector<int>& kept_pos, int n_kept, int per_mini, int G) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t g = 0;
  for (int first = 0; first < n_kept; first += per_mini) {
    const size_t begin = g;
    while (g < kept_pos.size() && kept_pos[g] < first + per_mini) ++g;
    out.emplace_back(begin * size_t(G), g * size_t(G));
  }
  return out;
}

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, bool resume) : cfg_(cfg), resume_(resume) {}

  TrainResult run();

 private:
  void setup();
  void load_state(const json& st, const std::string& dir);
  void save_state(long step);
  void open_outputs(const std::string& src);
  long step_once(long step);
  EvalResult evaluate(long step);
  void update(std::vector<Seq>& seqs, const std::vector<int>& kept_pos, int n_kept, Metrics& mt, StageTimer& timer);

  TrainConfig cfg_;
  bool resume_;
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
  policy::ReplayBuffer buffer_;
  std::optional<store::RolloutStore> store_;
  std::unique_ptr<MetricsWriter> metrics_, evals_;
  Rng rng_;
  long start_step_ = 0;
  int max_prompt_len_ = 0;
  std::vector<std::vector<int32_t>> prompt_ids_;  // per training example
  Metrics last_metrics_;
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
  }
  if (rl::needs_reference(cfg_.rl)) ref_ = std::make_unique<model::Model>(*policy_);
  optc_ = cfg_.optim;
  if (optc_.max_steps == 0) optc_.max_steps = cfg_.steps;
  opt_ = std::make_unique<model::AdamW>(optc_);
  rewards_ = std::make_unique<rewards::RewardManager>(cfg_.rewards);

  prompt_ids_.reserve(data_.train.size());
  std::vector<sampler::PromptMeta> metas;
  for (size_t i = 0; i < data_.train.size(); ++i) {
    const auto ids = tpl_->encode_prompt(tok_, data_.train[i]);
    prompt_ids_.emplace_back(ids.begin(), ids.end());
    max_prompt_len_ = std::max(max_prompt_len_, int(ids.size()));
    sampler::PromptMeta pm;
    pm.difficulty = data_.train[i].difficulty;
    metas.push_back(pm);
  }
  sampler_ = sampler::make_prompt_sampler(cfg_.sampler, metas);

  policy::RolloutConfig rc = cfg_.rollout;
  if (rc.stop_token_ids.empty()) rc.stop_token_ids = stop_ids(tok_);
  cfg_.rollout = rc;
  policy::RolloutEngine probe(rc);
  const int max_seq = max_prompt_len_ + rc.max_completion_length + 1;
  if (max_seq > policy_->config().max_position_embeddings)
    throw ConfigError("prompt (" + std::to_string(max_prompt_len_) + " tokens) + rollout.max_completion_length (" +
                      std::to_string(rc.max_completion_length) + ") exceeds the model's max_position_embeddings (" +
                      std::to_string(policy_->config().max_position_embeddings) + ")");
  decoder_ = std::make_unique<policy::ModelDecoder>(*policy_, probe.slots_needed(), max_seq);
  rng_.reseed(Rng::derive_seed(cfg_.seed, 21));

  if (resume_) with_last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat, [&] { load_state(state, src); });
  if (root) open_outputs(src);  // data parallel: rank 0 alone owns the run directory (config, metrics, store)
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
      store_->resume_run(start_step_, "reasonrl 0.1.0");
    } else if (from_scratch_ && store_->run_info()) {
      store_->resume_run(-1, "reasonrl 0.1.0");  // the steps of the attempt that never reached a checkpoint go
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
  start_step_ = st.at("step").get<long>();
  rng_.from_json(st.at("rng"));
  sampler_->load_state(st.at("sampler"));
  buffer_.from_json(st.at("replay_buffer"));
  opt_->load(dir + "/" + model::kOptimizerFile, *policy_);
  if (ref_) {
    if (!fs::exists(dir + "/reference")) throw FormatError(dir + ": the config needs a reference model but the checkpoint has none");
    model::load_weights(*ref_, dir + "/reference");
  }
  log_info("resumed from {} at step {} ({} groups in the replay buffer)", dir, start_step_, buffer_.num_groups());
}

EvalResult Trainer::evaluate(long step) {
  EvalResult er = evaluate_greedy(*policy_, tok_, *tpl_, data_.heldout, cfg_.eval);
  Metrics em;
  em.set("eval/pass@1", er.pass_at_1);
  em.set("eval/mean_tokens", er.mean_tokens);
  em.set("eval/truncated_frac", er.truncated_frac);
  em.set("eval/n", er.n);
  evals_->write(step, em);
  if (store_) {
    store::EvalRecord rec;
    rec.step = step;
    rec.split = "heldout";
    rec.metrics = {{"pass@1", er.pass_at_1}, {"mean_tokens", er.mean_tokens}, {"truncated_frac", er.truncated_frac},
                   {"n", double(er.n)}};
    store_->write_eval(rec);
  }
  log_info("eval at step {}: greedy pass@1 {:.3f} on {} held-out prompts, mean {:.1f} tokens ({:.1f}s)", step, er.pass_at_1,
           er.n, er.mean_tokens, er.seconds);
  return er;
}

// mu passes (rl.num_iterations, verl ppo_epochs) over the rollout batch; each pass takes one optimizer step per
// mini-batch of ppo_mini_batch_size prompts, in a fixed order. old_logp was computed once, before the first step, so
// later steps see ratios != 1 (and Kimi's tau term acts against its fixed reference). Each step's loss is normalised
// by its own mini-batch's counts (verl: the loss of one optimizer step is the mean over that mini-batch), and its
// micro-batches accumulate gradients under that mini-batch-global normaliser.
void Trainer::update(std::vector<Seq>& seqs, const std::vector<int>& kept_pos, int n_kept, Metrics& mt, StageTimer& timer) {
  const auto& rc = cfg_.rl;
  const policy::SamplingParams sp = cfg_.rollout.sampling();
  MicroBatchRunner runner(*policy_, sp);
  const size_t mb = size_t(cfg_.micro_batch_size);
  const int per_mini = cfg_.ppo_mini_batch_size > 0 ? cfg_.ppo_mini_batch_size : n_kept;
  const auto minis = mini_batch_ranges(kept_pos, n_kept, per_mini, cfg_.rollout.num_generations);
  rl::LossStats stats;
  double loss_sum = 0, gnorm_sum = 0, ent_sum = 0, ent_n = 0;
  int opt_steps = 0;
  std::vector<float> viol_last;
  for (int it = 0; it < rc.num_iterations; ++it) for (const auto& [a, b] : minis) {
    // counts over the whole mini-batch (one optimizer step), same mask as the loss
    rl::BatchCounts counts;
    for (size_t i = a; i < b; ++i) {
      std::vector<int64_t> off = {0, int64_t(seqs[i].mask.size())};
      counts += rl::count_tokens(seqs[i].mask, off);
    }
    dist::allreduce(counts);  // data parallel: the normaliser counts every rank's tokens and sequences
    const rl::LossNormalizer norm = rl::make_loss_normalizer(rc, counts);
    // the MoE balance loss is a mean over sequences: normalised by every rank's sequences of the mini-batch, like the
    // policy loss (each sequence has real tokens, so each is a row of the model's per-micro-batch mean)
    double step_seqs = double(b - a);
    dist::dist().allreduce_sum(&step_seqs, 1);
    policy_->zero_grad();
    {
      auto sc = timer.time("update");
      for (size_t i0 = a; i0 < b; i0 += mb) {
        const size_t i1 = std::min(b, i0 + mb);
        MicroBatchOut out = runner.forward(seqs, i0, i1, it == 0);
        // flat inputs for the loss
        std::vector<float> old_flat, ref_flat, roll_flat, mask_flat;
        std::vector<float> seq_adv;
        std::vector<int64_t> off = {0};
        for (size_t i = i0; i < i1; ++i) {
          auto& s = seqs[i];
          old_flat.insert(old_flat.end(), s.old_logp.begin(), s.old_logp.end());
          if (!s.ref_logp.empty()) ref_flat.insert(ref_flat.end(), s.ref_logp.begin(), s.ref_logp.end());
          roll_flat.insert(roll_flat.end(), s.rollout_logp.begin(), s.rollout_logp.end());
          mask_flat.insert(mask_flat.end(), s.mask.begin(), s.mask.end());
          seq_adv.push_back(float(s.advantage));
          off.push_back(off.back() + s.resp_len);
        }
        if (it == 0) {
          for (size_t k = 0; k < out.entropy.size(); ++k) {
            ent_sum += double(out.entropy[k]) * mask_flat[k];
            ent_n += mask_flat[k];
          }
        }
        rl::TokenInputs in;
        in.logp = out.logp;
        in.old_logp = old_flat;
        if (!ref_flat.empty()) in.ref_logp = ref_flat;
        if (rl::needs_rollout_logp(rc)) in.rollout_logp = roll_flat;
        in.seq_advantages = seq_adv;
        in.mask = mask_flat;
        in.seq_offsets = off;
        std::vector<float> dlogp(out.logp.size(), 0.0f);
        rl::LossStats st;
        loss_sum += rl::compute_loss(rc, in, norm, dlogp, &st);
        stats += st;
        runner.backward(dlogp, float(rl::balance_loss_scale(double(i1 - i0), step_seqs)));
      }
    }
    auto sc = timer.time("optimizer");
    const long opt_step = opt_->schedule_step();  // not step_count(): Kimi's reset restarts the moments, not the schedule
    dist::allreduce_grads(*policy_);  // data parallel: sum of every rank's gradient
    gnorm_sum += opt_->step(*policy_, float(optc_.lr_at(opt_step)));
    if (dist::dist().size > 1) {  // data parallel: the bias update sees every rank's expert loads, as one process would
      auto loads = policy_->router_loads();
      dist::dist().allreduce_sum(loads.data(), loads.size());
    }
    viol_last = policy_->update_router_bias();
    dist::sync_router_bias(*policy_, viol_last);  // keeps the ranks bit-identical (rank 0's biases everywhere)
    ++opt_steps;
  }
  if (dist::dist().size > 1) {  // metrics over every rank's sequences
    dist::allreduce(stats);
    double v[3] = {loss_sum, ent_sum, ent_n};
    dist::dist().allreduce_sum(v, 3);
    loss_sum = v[0], ent_sum = v[1], ent_n = v[2];
  }
  mt.set("loss", loss_sum / std::max(1, opt_steps));
  mt.set("grad_norm", gnorm_sum / std::max(1, opt_steps));
  mt.set("entropy", ent_n > 0 ? ent_sum / ent_n : 0.0);
  mt.set("clip_frac", stats.clip_frac());
  mt.set("clip_frac_low", stats.clip_frac_low());
  mt.set("clip_frac_high", stats.clip_frac_high());
  mt.set("ratio_mean", stats.ratio_mean());
  mt.set("approx_kl_old", stats.approx_kl_old());
  mt.set("kl", stats.kl_ref());
  if (rl::needs_rollout_logp(rc)) mt.set("tis_weight_mean", stats.tis_weight_mean());
  double vmax = 0;
  for (float v : viol_last) vmax = std::max<double>(vmax, v);
  mt.set("moe/max_violation", vmax);
  mt.set("lr", optc_.lr_at(std::max<long>(0, opt_->schedule_step() - 1)));
}

long Trainer::step_once(long step) {
  const auto& rc = cfg_.rl;
  StageTimer timer;
  Metrics mt;
  const double t_step = now_seconds();
  const int version = int(step);
  if (rl::reset_optimizer_now(rc, step)) opt_->reset_moments();
  if (ref_ && rl::refresh_reference_now(rc, step)) ref_->copy_params_from(*policy_);

  // ---- generate (with DAPO dynamic sampling: more rounds until enough informative groups) ----
  std::vector<policy::Trajectory> trajs;
  std::vector<rewards::RewardResult> scores;
  std::vector<std::string> texts;
  rl::DynamicSampler ds(rc, cfg_.prompts_per_step);
  policy::RolloutStats rstats_total;
  const int G = cfg_.rollout.num_generations;
  int round = 0;
  auto& D = dist::dist();           // data parallel: this rank generates groups rank, rank + N, ... of each round
  std::vector<int> kept_pos;        // per local kept group: its position among the step's kept groups (all ranks)
  int n_kept = 0;                   // kept groups of the step over all ranks
  while (!ds.done()) {
    int n_new = ds.groups_needed();
    if (cfg_.rollout.partial_rollout) {
      const int in_flight = cfg_.partial_rollout_groups > 0 ? cfg_.partial_rollout_groups : cfg_.prompts_per_step;
      n_new = std::max(0, in_flight - int(buffer_.num_groups()));
    }
    sampler_->set_step(int(step));
    std::vector<int> ids = sampler_->sample(n_new, rng_);
    if (D.size > 1) ids = dist::shard(ids);
    std::vector<policy::Prompt> prompts;
    for (int id : ids) prompts.push_back({int64_t(id), prompt_ids_[size_t(id)]});
    policy::RolloutConfig rcfg = cfg_.rollout;
    rcfg.seed = Rng::derive_seed(cfg_.seed, 31, uint64_t(step) * 64 + uint64_t(round));
    policy::RolloutEngine engine(rcfg);
    policy::RolloutResult rr;
    {
      auto sc = timer.time("generate");
      rr = engine.generate(*decoder_, prompts, version, cfg_.rollout.partial_rollout ? &buffer_ : nullptr);
    }
    const auto& s = rr.stats;
    rstats_total.tokens_generated += s.tokens_generated;
    rstats_total.rows_computed += s.rows_computed;
    rstats_total.n_partial += s.n_partial;
    rstats_total.n_restarted += s.n_restarted;
    rstats_total.mean_token_staleness = s.mean_token_staleness;
    rstats_total.mean_trajectory_staleness = s.mean_trajectory_staleness;
    // score group by group
    std::vector<rewards::RewardResult> round_scores;
    std::vector<std::string> round_texts;
    {
      auto sc = timer.time("score");
      for (size_t g0 = 0; g0 < rr.trajectories.size(); g0 += size_t(G)) {
        std::vector<rewards::RewardInput> group;
        for (size_t k = g0; k < g0 + size_t(G); ++k) {
          const auto& t = rr.trajectories[k];
          const auto& e = data_.train[size_t(t.prompt_id)];
          std::vector<int> ids32(t.tokens.begin(), t.tokens.end());
          round_texts.push_back(tok_.decode(ids32, true));
          group.push_back(make_reward_input(e, tpl_->prompt(e), round_texts.back(), t.length(),
                                            cfg_.rollout.max_completion_length, enum_to_string(t.finish)));
        }
        auto res = rewards_->score_group(group);
        round_scores.insert(round_scores.end(), res.begin(), res.end());
      }
    }
    std::vector<double> r(round_scores.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = round_scores[i].total;
    std::vector<int> group_pid, group_nc;  // per group of the round
    for (size_t g0 = 0; g0 < r.size(); g0 += size_t(G)) {
      group_pid.push_back(int(rr.trajectories[g0].prompt_id));
      group_nc.push_back(0);
      for (int k = 0; k < G; ++k) group_nc.back() += round_scores[g0 + size_t(k)].correct;
    }
    // every rank sees every group of the round, so the sampler and dynamic sampling stay replicated
    if (D.size > 1) dist::allgather_round(group_pid, group_nc, r, G);
    const int n_groups = int(group_pid.size());
    const auto sizes = rl::uniform_group_sizes(n_groups, G);
    // success statistics for the prompt sampler come from every scored group (kept or not)
    for (int g = 0; g < n_groups; ++g) sampler_->update(group_pid[size_t(g)], group_nc[size_t(g)], G, int(step));
    const std::vector<int> keep = ds.add_round(r, sizes);
    for (int g : keep) {
      const int pos = n_kept++;
      if (g % D.size != D.rank) continue;  // generated by another rank
      const size_t lg = size_t(g / D.size);
      kept_pos.push_back(pos);
      for (size_t k = lg * size_t(G); k < (lg + 1) * size_t(G); ++k) {
        trajs.push_back(std::move(rr.trajectories[k]));
        scores.push_back(round_scores[k]);
        texts.push_back(round_texts[k]);
      }
    }
    ++round;
    if (n_new == 0 && rr.trajectories.empty()) break;
  }
  if (D.size > 1) dist::allreduce(rstats_total);
  mt.set("rollout/rounds", round);
  if (rc.dynamic_sampling) {
    mt.set("rollout/groups_kept", ds.kept());
    mt.set("rollout/frac_zero_std", ds.frac_zero_std());
  }

  // ---- advantages ----
  std::vector<double> rewards(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) rewards[i] = scores[i].total;
  const int n_groups = int(trajs.size()) / G;
  const auto sizes = rl::uniform_group_sizes(n_groups, G);

  std::vector<Seq> seqs(trajs.size());
  for (size_t i = 0; i < trajs.size(); ++i) {
    const auto& t = trajs[i];
    Seq& s = seqs[i];
    s.traj = i;
    s.tokens = t.prompt;
    s.tokens.insert(s.tokens.end(), t.tokens.begin(), t.tokens.end());
    s.prompt_len = int(t.prompt.size());
    s.resp_len = t.length();
    s.mask.resize(size_t(s.resp_len));
    for (int j = 0; j < s.resp_len; ++j) s.mask[size_t(j)] = t.loss_mask.empty() ? 1.0f : float(t.loss_mask[size_t(j)]);
    s.rollout_logp = t.logp;
  }

  // ---- old and reference log-probs (no gradient) ----
  {
    auto sc = timer.time("logprobs");
    fill_response_logp(*policy_, cfg_.rollout.sampling(), size_t(cfg_.micro_batch_size), seqs, &Seq::old_logp);
    if (ref_) fill_response_logp(*ref_, cfg_.rollout.sampling(), size_t(cfg_.micro_batch_size), seqs, &Seq::ref_logp);
  }
  // rollout vs trainer log-prob agreement (same weights: only numerics and truncation differ)
  {
    double diff = 0, n = 0;
    for (const auto& s : seqs)
      for (int j = 0; j < s.resp_len; ++j) {
        diff = std::max(diff, double(std::fabs(s.old_logp[size_t(j)] - s.rollout_logp[size_t(j)])));
        n += 1;
      }
    dist::dist().allreduce_max(&diff, 1);
    mt.set("rollout/logp_max_abs_diff", diff);
  }
  std::vector<double> shaped = rewards;
  if (ref_ && rc.kl_mode == rl::KlMode::Reward) {
    std::vector<float> old_flat, ref_flat, mask_flat;
    std::vector<int64_t> off = {0};
    for (const auto& s : seqs) {
      old_flat.insert(old_flat.end(), s.old_logp.begin(), s.old_logp.end());
      ref_flat.insert(ref_flat.end(), s.ref_logp.begin(), s.ref_logp.end());
      mask_flat.insert(mask_flat.end(), s.mask.begin(), s.mask.end());
      off.push_back(off.back() + s.resp_len);
    }
    shaped = rl::kl_penalized_rewards(rc, rewards, old_flat, ref_flat, mask_flat, off);
  }
  std::vector<double> adv = n_groups > 0 ? rl::compute_advantages(rc, shaped, sizes) : std::vector<double>{};
  if (D.size > 1) {  // batch statistics (scale_rewards batch, REINFORCE++) need every rank's groups: compute on all
    const std::vector<double> all = dist::allgather_positions(kept_pos, shaped, G);
    if (!all.empty())
      adv = dist::select_positions(rl::compute_advantages(rc, all, rl::uniform_group_sizes(n_kept, G)), kept_pos, G);
  }
  for (size_t i = 0; i < seqs.size(); ++i) seqs[i].advantage = adv[i];

  // ---- update ----
  if (n_kept > 0) update(seqs, kept_pos, n_kept, mt, timer);  // n_kept counts every rank's groups (this rank may have none)

  // ---- metrics and store ----
  std::vector<store::SampleRecord> samples;
  samples.reserve(trajs.size());
  for (size_t i = 0; i < trajs.size(); ++i) {
    const auto& t = trajs[i];
    store::SampleRecord sr;
    sr.step = step + 1;
    sr.prompt_id = t.prompt_id;
    sr.group_id = kept_pos[i / size_t(G)];
    sr.group_index = t.group_index;
    sr.text = texts[i];
    sr.n_tokens = t.length();
    sr.finish_reason = enum_to_string(t.finish);
    sr.reward_components = scores[i].components;
    sr.reward = scores[i].total;
    sr.correct = scores[i].correct;
    sr.advantage = adv[i];
    int vmin = version, vmax = 0;
    for (const auto& seg : t.segments) {
      vmin = std::min(vmin, seg.version);
      vmax = std::max(vmax, seg.version);
      sr.segments.push_back({seg.version, seg.end - seg.begin});
    }
    if (t.segments.empty()) vmin = vmax = version;
    sr.policy_version_min = vmin;
    sr.policy_version_max = vmax;
    samples.push_back(std::move(sr));
  }
  if (D.size > 1) {  // rank 0 alone writes metrics and the store, from every rank's rows
    samples = dist::gather_samples(samples);
    if (!D.is_root()) return step + 1;
  }
  store::StepRecord rec;
  rec.step = step + 1;
  for (const auto& [k, v] : mt.items()) rec.metrics[k] = v;
  store::add_sample_metrics(rec, samples, version);
  rec.metrics["rollout/tokens"] = double(rstats_total.tokens_generated);
  rec.metrics["rollout/useful_fraction"] =
      rstats_total.rows_computed > 0 ? double(rstats_total.tokens_generated) / double(rstats_total.rows_computed) : 0.0;
  rec.metrics["rollout/partial"] = rstats_total.n_partial;
  rec.metrics["rollout/buffered_groups"] = double(buffer_.num_groups());
  rec.metrics[store::metric::kStaleness] = rstats_total.mean_token_staleness;
  rec.metrics["samples"] = double(samples.size());
  const double step_s = now_seconds() - t_step;
  rec.metrics[store::metric::kTokensPerS] = double(rstats_total.tokens_generated) / std::max(1e-9, step_s);
  {
    Metrics times;
    timer.put_into(times);
    for (const auto& [k, v] : times.items()) rec.metrics[k] = v;
    rec.metrics["time/step_ms"] = (now_seconds() - t_step) * 1e3;  // without the store write itself
  }
  if (store_) {
    auto sc = timer.time("store");
    store_->write_step(rec, samples);
  }
  Metrics out;
  for (const auto& [k, v] : rec.metrics) out.set(k, v);
  timer.put_into(out);
  metrics_->write(step + 1, out);
  last_metrics_ = out;
  return step + 1;
}

TrainResult Trainer::run() {
  const double t0 = now_seconds();
  std::optional<RunDirLock> lock;
  if (dist::dist().is_root()) lock.emplace(cfg_.run_dir);  // before anything is written to the run directory
  InterruptScope interrupts;
  setup();
  TrainResult res;
  const bool do_eval = cfg_.eval.size > 0 && !data_.heldout.empty() && dist::dist().is_root();
  if (start_step_ == 0 && do_eval) res.initial_eval = evaluate(0);
  Progress prog("train", cfg_.steps, start_step_);
  long step = start_step_;
  int done_here = 0;
  while (step < cfg_.steps) {
    try {
      step = step_once(step);
    } catch (const NumericError& e) {
      throw NumericError("step " + std::to_string(step + 1) + ": " + e.what() + "; the run stopped, the last good checkpoint is " +
                         last_good_checkpoint(cfg_.run_dir, kTrainerStateFormat));
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
      evaluate(step);
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
  if (!res.interrupted && do_eval) res.final_eval = evaluate(step);
  res.steps_done = step;
  res.seconds = now_seconds() - t0;
  log_info("train {} after {} steps in {:.1f}s; run directory {}", res.interrupted ? "stopped" : "done", step, res.seconds,
           cfg_.run_dir);
  return res;
}

}  // namespace

TrainResult run_train(const TrainConfig& cfg, bool resume) {
  Trainer t(cfg, resume);
  return t.run();
}

}  // namespace reasonrl::train
