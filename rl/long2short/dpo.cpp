// dpo.cpp: DPO training (summed response log-probs from the shared runner, precomputed reference, micro-batched
// gradient) and preference JSONL.
#include "rl/long2short/dpo.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <span>

#include <filesystem>

#include "model/checkpoint.h"
#include "rl/long2short/pipeline.h"
#include "rl/train/checkpoint_state.h"
#include "rl/train/interrupt.h"
#include "rl/train/metrics.h"
#include "rl/train/response_logprob.h"
#include "rl/train/run_dir.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"
#include "rl/util/rng.h"

namespace reasonrl::long2short {

void DpoOptions::validate() const {
  if (!(beta > 0)) throw ConfigError("dpo.beta must be > 0");
  if (label_smoothing < 0 || label_smoothing >= 0.5) throw ConfigError("dpo.label_smoothing must be in [0, 0.5)");
  if (steps < 0 || batch_size < 1 || micro_batch_size < 1) throw ConfigError("dpo: steps >= 0, batch_size >= 1, micro_batch_size >= 1");
  if (max_length < 0) throw ConfigError("dpo.max_length must be >= 0");
  if (!(rpo_alpha >= 0) || !std::isfinite(rpo_alpha)) throw ConfigError("dpo.rpo_alpha must be a number >= 0");
}

void DpoConfig::validate() const {
  if (save_every < 0) throw ConfigError("dpo: save_every must be >= 0");
}

namespace {

const policy::SamplingParams kFullSoftmax{1.0f, 0, 1.0f, 0.0f};  // DPO's log-probs: the full softmax at temperature 1

// The two sequences of each pair pairs[idx[k]]: [2k] prompt + chosen, [2k + 1] prompt + rejected.
std::vector<train::ResponseSeq> pair_seqs(const std::vector<TokenPair>& pairs, std::span<const size_t> idx) {
  std::vector<train::ResponseSeq> seqs;
  for (size_t i : idx) {
    const TokenPair& p = pairs[i];
    if (p.prompt.empty()) throw FormatError("dpo: a pair has an empty prompt (the first response token needs a context)");
    seqs.push_back({p.prompt, p.chosen});
    seqs.push_back({p.prompt, p.rejected});
  }
  return seqs;
}

// Summed response log-probs per sequence of a forward.
std::vector<double> summed_logps(const train::ResponseLogprobs& r) {
  std::vector<double> out(r.offsets.size() - 1, 0.0);
  for (size_t s = 0; s < out.size(); ++s)
    for (int64_t k = r.offsets[s]; k < r.offsets[s + 1]; ++k) out[s] += r.logp[size_t(k)];
  return out;
}

// dseq[s] = dLoss / d(summed log-prob of sequence s) spread over its tokens, in the forward's flat layout.
std::vector<float> token_grads(const train::ResponseLogprobs& r, const std::vector<double>& dseq) {
  std::vector<float> d(r.logp.size());
  for (size_t s = 0; s + 1 < r.offsets.size(); ++s)
    for (int64_t k = r.offsets[s]; k < r.offsets[s + 1]; ++k) d[size_t(k)] = float(dseq[s]);
  return d;
}

void add_stats(DpoStats& s, const PairLoss& l, double lc, double lr) {
  s.loss += l.loss;
  s.margin += l.margin;
  s.accuracy += l.margin > 0 ? 1.0 : 0.0;
  s.chosen_reward += l.chosen_reward;
  s.rejected_reward += l.rejected_reward;
  s.chosen_logp += lc;
  s.rejected_logp += lr;
  s.nll -= lc;
  s.n += 1;
}

// Means over the pairs; nll over the chosen tokens (s.nll holds -sum logp_c here), added to the loss with rpo_alpha.
void finish_stats(DpoStats& s, double rpo_alpha, int64_t chosen_tokens) {
  if (s.n == 0) return;
  const double n = s.n;
  s.loss /= n, s.margin /= n, s.accuracy /= n, s.chosen_reward /= n, s.rejected_reward /= n, s.chosen_logp /= n,
      s.rejected_logp /= n;
  s.nll /= double(std::max<int64_t>(1, chosen_tokens));
  s.loss += rpo_alpha * s.nll;
}

int64_t chosen_tokens(const std::vector<TokenPair>& pairs, const std::vector<size_t>& idx) {
  int64_t n = 0;
  for (size_t i : idx) n += int64_t(pairs[i].chosen.size());
  return n;
}

PairLogps make_logps(const TokenPair& p, const double* cur, const double* ref) {
  PairLogps x;
  x.chosen = cur[0];
  x.rejected = cur[1];
  x.ref_chosen = ref[0];
  x.ref_rejected = ref[1];
  x.chosen_len = int(p.chosen.size());
  x.rejected_len = int(p.rejected.size());
  return x;
}

}  // namespace

std::vector<double> pair_logps(model::Model& m, const std::vector<TokenPair>& pairs, int micro_batch_size,
                               train::TrainKernel kernel) {
  train::ResponseLogprobRunner run(m, kFullSoftmax, kernel);
  std::vector<double> out(2 * pairs.size(), 0.0);
  const size_t mb = size_t(std::max(1, micro_batch_size));
  for (size_t i0 = 0; i0 < pairs.size(); i0 += mb) {
    std::vector<size_t> idx;
    for (size_t i = i0; i < std::min(pairs.size(), i0 + mb); ++i) idx.push_back(i);
    const auto lp = summed_logps(run.forward(pair_seqs(pairs, idx), false));
    for (size_t k = 0; k < lp.size(); ++k) out[2 * i0 + k] = lp[k];
  }
  m.reset_router_loads();  // scoring must not move the router biases
  return out;
}

DpoStats dpo_stats(model::Model& policy, const std::vector<TokenPair>& pairs, const std::vector<double>& ref,
                   const DpoOptions& opt) {
  const auto cur = pair_logps(policy, pairs, opt.micro_batch_size, opt.train_kernel);
  DpoStats s;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const PairLoss l = dpo_pair_loss(opt.loss_params(), make_logps(pairs[i], &cur[2 * i], &ref[2 * i]));
    add_stats(s, l, cur[2 * i], cur[2 * i + 1]);
  }
  std::vector<size_t> all(pairs.size());
  std::iota(all.begin(), all.end(), size_t{0});
  finish_stats(s, opt.rpo_alpha, chosen_tokens(pairs, all));
  return s;
}

DpoResult train_dpo(model::Model& policy, const std::vector<TokenPair>& all_pairs, const DpoOptions& opt,
                    const std::string& metrics_path, const DpoCheckpointing* ck) {
  opt.validate();
  const double t0 = now_seconds();
  DpoResult res;
  const int limit = opt.max_length > 0 ? std::min(opt.max_length, policy.config().max_position_embeddings)
                                       : policy.config().max_position_embeddings;
  std::vector<TokenPair> pairs;
  const int context = policy.config().max_position_embeddings;
  for (size_t i = 0; i < all_pairs.size(); ++i) {
    const TokenPair& p = all_pairs[i];
    const size_t longest = p.prompt.size() + std::max(p.chosen.size(), p.rejected.size());
    if (longest > size_t(context))
      throw CapacityError((p.source.empty() ? "preference pair " + std::to_string(i) : p.source + ": the pair") +
                          " has " + std::to_string(p.prompt.size()) + " prompt + " + std::to_string(p.chosen.size()) +
                          " chosen / " + std::to_string(p.rejected.size()) + " rejected tokens: " +
                          std::to_string(longest) + " tokens, more than the model's context (max_position_embeddings " +
                          std::to_string(context) + "). HINT: drop or shorten the pair, or set dpo.max_length to skip "
                          "longer pairs");
    if (p.prompt.empty() || p.chosen.empty() || p.rejected.empty() || int(longest) > limit) {
      ++res.pairs_skipped;
      continue;
    }
    pairs.push_back(p);
  }
  res.pairs_used = int(pairs.size());
  if (pairs.empty()) throw ConfigError("dpo: no usable preference pairs (" + std::to_string(res.pairs_skipped) +
                                       " skipped: empty, or longer than " + std::to_string(limit) + " tokens)");
  if (res.pairs_skipped > 0) log_warn("dpo: skipped {} pairs (empty or longer than {} tokens)", res.pairs_skipped, limit);

  const model::ModelConfig knobs0 = policy.config();
  model::ModelConfig knobs = knobs0;
  knobs.mtp_loss_weight = 0;  // DPO trains the main head only (as RL does)
  policy.set_training_knobs(knobs);

  const bool resumed = ck && !ck->resume_from.empty();
  std::vector<double> ref;
  if (resumed) {
    ref = ck->state.at("ref_logps").get<std::vector<double>>();
    if (ref.size() != 2 * pairs.size())
      throw FormatError(ck->resume_from + "/" + train::kStateFile + ": " + std::to_string(ref.size() / 2) +
                        " reference pairs, the data has " + std::to_string(pairs.size()) + " (another train_file?)");
  } else {
    log_info("dpo: reference log-probs of {} pairs (computed once)", pairs.size());
    ref = pair_logps(policy, pairs, opt.micro_batch_size, opt.train_kernel);
  }

  model::AdamWConfig oc = opt.optim;
  if (oc.max_steps == 0) oc.max_steps = opt.steps;
  model::AdamW adam(oc);
  Rng rng(Rng::derive_seed(opt.seed, 31));
  std::vector<size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  size_t cursor = order.size();
  long start_step = 0;
  if (resumed) {
    start_step = ck->state.at("step").get<long>();
    rng.from_json(ck->state.at("rng"));
    order = ck->state.at("order").get<std::vector<size_t>>();
    cursor = ck->state.at("cursor").get<size_t>();
    if (order.size() != pairs.size() || cursor > order.size())
      throw FormatError(ck->resume_from + "/" + train::kStateFile + ": its pair order does not fit the data");
    adam.load(ck->resume_from + "/" + model::kOptimizerFile, policy);
    log_info("dpo: resumed from {} at step {}", ck->resume_from, start_step);
  }
  // the loop's state after `step` steps as <run_dir>/checkpoints/step_N (saved with the model's own knobs)
  auto save = [&](long step) {
    json st;
    st["rng"] = rng.to_json();
    st["order"] = order;
    st["cursor"] = cursor;
    st["ref_logps"] = ref;
    policy.set_training_knobs(knobs0);
    try {
      train::commit_checkpoint(train::checkpoint_dir(ck->run_dir, step), kDpoStateFormat, step, st, {&policy},
                               [&](const std::string& tmp) {
                                 model::save_checkpoint(policy, tmp);
                                 write_file_atomic(tmp + "/tokenizer.json", ck->tokenizer_json);
                                 adam.save(tmp + "/" + model::kOptimizerFile);
                               });
    } catch (const NumericError& e) {
      throw NumericError(std::string(e.what()) + "; the last good checkpoint is " +
                         train::last_good_checkpoint(ck->run_dir, kDpoStateFormat));
    }
    policy.set_training_knobs(knobs);
    train::set_latest_checkpoint(ck->run_dir, step);
    train::prune_checkpoints(ck->run_dir, 2);
  };
  std::unique_ptr<train::MetricsWriter> mw;
  if (!metrics_path.empty()) mw = std::make_unique<train::MetricsWriter>(metrics_path, resumed);
  train::ResponseLogprobRunner run(policy, kFullSoftmax, opt.train_kernel);
  const int B = std::min<int>(opt.batch_size, int(pairs.size()));
  train::Progress prog("dpo", opt.steps, start_step);
  for (long step = start_step; step < opt.steps; ++step) {
    const double ts = now_seconds();
    std::vector<size_t> batch;
    for (int b = 0; b < B; ++b) {
      if (cursor >= order.size()) {
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
        cursor = 0;
      }
      batch.push_back(order[cursor++]);
    }
    policy.zero_grad();
    DpoStats st;
    const size_t mb = size_t(std::max(1, opt.micro_batch_size));
    // RPO's NLL is the mean over the batch's chosen tokens: d/dlogp_c = -rpo_alpha / (chosen tokens in the batch).
    const int64_t n_chosen = chosen_tokens(pairs, batch);
    const double d_nll = -opt.rpo_alpha / double(std::max<int64_t>(1, n_chosen));
    for (size_t i0 = 0; i0 < batch.size(); i0 += mb) {
      std::vector<size_t> idx(batch.begin() + long(i0), batch.begin() + long(std::min(batch.size(), i0 + mb)));
      const train::ResponseLogprobs& fwd = run.forward(pair_seqs(pairs, idx), false);
      const auto cur = summed_logps(fwd);
      std::vector<double> dseq(cur.size());
      for (size_t k = 0; k < idx.size(); ++k) {
        const size_t i = idx[k];
        const PairLoss l = dpo_pair_loss(opt.loss_params(), make_logps(pairs[i], &cur[2 * k], &ref[2 * i]));
        add_stats(st, l, cur[2 * k], cur[2 * k + 1]);
        dseq[2 * k] = l.d_chosen / double(B) + d_nll;  // the DPO loss is the mean over the batch
        dseq[2 * k + 1] = l.d_rejected / double(B);
      }
      run.backward(token_grads(fwd, dseq), float(double(idx.size()) / double(B)));
    }
    finish_stats(st, opt.rpo_alpha, n_chosen);
    if (!std::isfinite(st.loss)) throw NumericError("dpo step " + std::to_string(step) + ": loss is not finite");
    const double lr = oc.lr_at(step);
    const double gnorm = adam.step(policy, float(lr));
    policy.update_router_bias();
    res.step_stats.push_back(st);
    if (mw) {
      train::Metrics m;
      m.set("loss", st.loss);
      m.set("rewards/margins", st.margin);
      m.set("rewards/accuracies", st.accuracy);
      m.set("rewards/chosen", st.chosen_reward);
      m.set("rewards/rejected", st.rejected_reward);
      m.set("logps/chosen", st.chosen_logp);
      m.set("logps/rejected", st.rejected_logp);
      m.set("nll_loss", st.nll);
      m.set("grad_norm", gnorm);
      m.set("lr", lr);
      m.set("time/step_ms", (now_seconds() - ts) * 1e3);
      mw->write(step + 1, m);
    }
    prog.update(step + 1, {{"loss", fmt::format("{:.4f}", st.loss)}, {"margin", fmt::format("{:.3f}", st.margin)},
                           {"acc", fmt::format("{:.2f}", st.accuracy)}});
    if (!ck) continue;
    const bool stop = step + 1 < opt.steps && train::interrupt_signal(false) != 0;
    if ((ck->save_every > 0 && (step + 1) % ck->save_every == 0 && step + 1 < opt.steps) || stop) save(step + 1);
    if (stop) {
      prog.finish();
      train::throw_interrupted("dpo", step + 1, train::checkpoint_dir(ck->run_dir, step + 1),
                               "reasonrl dpo --run_dir " + ck->run_dir + " --resume (with the same config)");
    }
  }
  prog.finish();
  res.final_stats = dpo_stats(policy, pairs, ref, opt);
  policy.set_training_knobs(knobs0);
  res.seconds = now_seconds() - t0;
  log_info("dpo done in {:.1f}s: {} pairs, loss {:.4f}, margin {:.3f}, accuracy {:.2f}", res.seconds, pairs.size(),
           res.final_stats.loss, res.final_stats.margin, res.final_stats.accuracy);
  return res;
}

// ---- JSONL ----

std::vector<TextPair> load_preference_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open preference file '" + path + "'");
  std::vector<TextPair> out;
  std::string line;
  int ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const std::exception& e) {
      throw FormatError(path + ":" + std::to_string(ln) + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw FormatError(path + ":" + std::to_string(ln) + ": expected a JSON object");
    TextPair p;
    p.source = path + ":" + std::to_string(ln);
    for (auto [key, dst] : {std::pair<const char*, std::string*>{"prompt", &p.prompt}, {"chosen", &p.chosen},
                            {"rejected", &p.rejected}}) {
      auto it = j.find(key);
      if (it == j.end())
        throw FormatError(path + ":" + std::to_string(ln) + ": missing key '" + key +
                          "' (TRL preference layout: prompt, chosen, rejected)");
      if (!it->is_string())
        throw FormatError(path + ":" + std::to_string(ln) + ": key '" + key +
                          "' must be a string (conversational message lists are not supported)");
      *dst = it->get<std::string>();
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) throw FormatError("preference file '" + path + "' has no pairs");
  return out;
}

void write_preference_jsonl(const std::string& path, const std::vector<TextPair>& pairs, const std::vector<json>& extra) {
  std::string s;
  for (size_t i = 0; i < pairs.size(); ++i) {
    json j;
    j["prompt"] = pairs[i].prompt;
    j["chosen"] = pairs[i].chosen;
    j["rejected"] = pairs[i].rejected;
    if (i < extra.size())
      for (auto it = extra[i].begin(); it != extra[i].end(); ++it) j[it.key()] = it.value();
    j["version"] = 1;
    s += j.dump() + "\n";
  }
  write_file_atomic(path, s);
}

std::vector<TokenPair> tokenize_pairs(const std::vector<TextPair>& pairs, const datasets::Tokenizer& tok,
                                      const datasets::PromptTemplate& tpl) {
  const int eos = tok.eos_id();
  std::vector<TokenPair> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) {
    datasets::Example e;
    e.prompt = p.prompt;
    TokenPair t;
    t.source = p.source;
    const auto pr = tpl.encode_prompt(tok, e);
    t.prompt.assign(pr.begin(), pr.end());
    const auto c = tok.encode(p.chosen), r = tok.encode(p.rejected);
    t.chosen.assign(c.begin(), c.end());
    t.rejected.assign(r.begin(), r.end());
    if (eos >= 0) {
      t.chosen.push_back(eos);
      t.rejected.push_back(eos);
    }
    out.push_back(std::move(t));
  }
  return out;
}

DpoRunResult run_dpo(const DpoConfig& cfg, bool resume) {
  if (cfg.init_from.empty()) throw ConfigError("dpo: init_from (a checkpoint directory) is required");
  if (cfg.train_file.empty()) throw ConfigError("dpo: train_file (a preference JSONL) is required");
  DpoRunResult res;
  res.checkpoint = cfg.run_dir + "/checkpoint";
  const train::RunDirLock lock(cfg.run_dir);  // before anything is written to the run directory
  train::InterruptScope interrupts;
  // every check (an existing run, the checkpoint to resume) before the first write
  DpoCheckpointing ck;
  ck.run_dir = cfg.run_dir;
  ck.save_every = cfg.save_every;
  if (resume) {
    if (train::run_files_present(cfg.run_dir).empty())
      throw ConfigError("--resume: run directory '" + cfg.run_dir + "' holds no run to resume: start it without --resume");
    if (std::filesystem::exists(res.checkpoint + "/" + train::kStateFile) &&
        train::read_checkpoint_state(res.checkpoint, kDpoStateFormat).at("step").get<long>() == cfg.dpo.steps) {
      log_info("dpo: '{}' is complete ({} steps): nothing to resume", cfg.run_dir, cfg.dpo.steps);
      return res;
    }
    ck.resume_from = train::latest_checkpoint(cfg.run_dir);
    if (ck.resume_from.empty())
      log_warn("--resume: '{}' has no checkpoint yet (the run stopped before its first one): starting it from scratch",
               cfg.run_dir);
  } else {
    train::require_fresh_run_dir(cfg.run_dir, "dpo");
  }
  train::setup_threads(cfg.threads);
  const std::string init = resolve_checkpoint(cfg.init_from);  // a checkpoint, or a run directory's latest
  const std::string from = ck.resume_from.empty() ? init : ck.resume_from;
  std::unique_ptr<model::Model> m;
  datasets::Tokenizer tok;
  train::with_last_good_checkpoint(ck.resume_from.empty() ? "" : cfg.run_dir, kDpoStateFormat, [&] {
    if (!ck.resume_from.empty()) ck.state = train::read_checkpoint_state(from, kDpoStateFormat);
    tok = datasets::Tokenizer::load(from + "/tokenizer.json");
    if (ck.resume_from.empty()) train::verify_checkpoint_dir(from); else train::check_tokenizer(ck.state, from);
    m = model::load_model(from);
  });
  ck.tokenizer_json = read_file(from + "/tokenizer.json");
  const datasets::PromptTemplate tpl(cfg.data.prompt_template);
  const auto pairs = tokenize_pairs(load_preference_jsonl(cfg.train_file), tok, tpl);
  log_info("dpo: {} preference pairs from {}", pairs.size(), cfg.train_file);
  train::TaskData data;
  if (cfg.eval.size > 0) data = train::load_task_data(cfg.data);

  // the run directory's files, now that every check passed
  const long start_step = ck.resume_from.empty() ? 0 : ck.state.at("step").get<long>();
  if (ck.resume_from.empty()) {
    train::save_resolved_config(cfg.run_dir, config_to_json(cfg), "dpo");
  } else {
    train::warn_if_config_differs(cfg.run_dir, config_to_json(cfg));
    train::truncate_metrics_file(cfg.run_dir + "/metrics.jsonl", start_step);
    train::truncate_metrics_file(cfg.run_dir + "/evals.jsonl", start_step);
  }
  std::unique_ptr<train::MetricsWriter> ew;
  if (cfg.eval.size > 0) ew = std::make_unique<train::MetricsWriter>(cfg.run_dir + "/evals.jsonl", start_step > 0);
  auto eval = [&](long step) {
    train::EvalResult er = train::evaluate_greedy(*m, tok, tpl, data.heldout, cfg.eval);
    train::Metrics em;
    for (const auto& [k, v] : train::eval_metric_items(er)) em.set("eval/" + k, v);
    ew->write(step, em);
    train::log_eval(step, er);
    return er;
  };
  if (ew && start_step == 0) res.before = eval(0);
  res.dpo = train_dpo(*m, pairs, cfg.dpo, cfg.run_dir + "/metrics.jsonl", &ck);
  if (ew) res.after = eval(cfg.dpo.steps);
  json st;
  train::commit_checkpoint(res.checkpoint, kDpoStateFormat, cfg.dpo.steps, st, {m.get()},
                           [&](const std::string& tmp) {
                             model::save_checkpoint(*m, tmp);
                             write_file_atomic(tmp + "/tokenizer.json", ck.tokenizer_json);
                           });
  return res;
}

}  // namespace reasonrl::long2short
