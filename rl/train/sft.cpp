// sft.cpp: the SFT loop.
#include "rl/train/sft.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "datasets/jsonl_loader.h"
#include "model/checkpoint.h"
#include "rl/train/checkpoint_state.h"
#include "rl/train/interrupt.h"
#include "rl/train/metrics.h"
#include "rl/train/run_dir.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"
#include "rl/util/rng.h"

namespace reasonrl::train {

void SftConfig::validate() const {
  if (steps < 0 || batch_size < 1) throw ConfigError("sft: steps must be >= 0 and batch_size >= 1");
  if (threads < 0) throw ConfigError("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (save_every < 0) throw ConfigError("save_every must be >= 0 (0 = at the end only), got " + std::to_string(save_every));
}

int pad_sft_batch(const std::vector<const datasets::SftSequence*>& batch, int pad, std::vector<int32_t>& tokens,
                  std::vector<float>& mask) {
  int T = 0;
  for (const auto* s : batch) T = std::max(T, int(s->ids.size()));
  const int B = int(batch.size());
  tokens.assign(size_t(B) * T, pad);
  mask.assign(size_t(B) * T, 0.0f);
  for (int b = 0; b < B; ++b) {
    const auto& s = *batch[b];
    for (int t = 0; t < int(s.ids.size()); ++t) {
      tokens[size_t(b) * T + t] = s.ids[t];
      mask[size_t(b) * T + t] = t >= s.prompt_len ? 1.0f : 0.0f;
    }
  }
  return T;
}

int pack_sft_batch(const std::vector<const datasets::SftSequence*>& batch, std::vector<int32_t>& tokens,
                   std::vector<float>& mask, std::vector<int>& cu) {
  tokens.clear();
  mask.clear();
  cu.assign(1, 0);
  int longest = 0;
  for (const auto* s : batch) {
    for (int t = 0; t < int(s->ids.size()); ++t) {
      tokens.push_back(s->ids[size_t(t)]);
      mask.push_back(t >= s->prompt_len ? 1.0f : 0.0f);
    }
    cu.push_back(int(tokens.size()));
    longest = std::max(longest, int(s->ids.size()));
  }
  return longest;
}

double sft_loss_and_grad(model::Model& m, const std::vector<const datasets::SftSequence*>& batch, int pad,
                         TrainKernel kernel, size_t* processed) {
  const int B = int(batch.size()), V = m.config().vocab_size;
  std::vector<int32_t> tokens;
  std::vector<float> mask;
  if (kernel == TrainKernel::Full) {
    const int T = pad_sft_batch(batch, pad, tokens, mask);
    std::vector<float> logits(size_t(B) * T * V), dlogits(logits.size());
    m.forward(tokens.data(), B, T, logits.data(), mask.data());
    const double loss = model::next_token_loss(logits.data(), tokens.data(), B, T, V, mask.data(), dlogits.data());
    if (std::isfinite(loss)) m.backward(dlogits.data());
    if (processed) *processed = tokens.size();
    return loss;
  }
  // fused / packed: the positions p whose next token (in the same sequence) is a target
  std::vector<int> cu;
  if (kernel == TrainKernel::Packed) {
    pack_sft_batch(batch, tokens, mask, cu);
  } else {
    const int T = pad_sft_batch(batch, pad, tokens, mask);
    cu.assign(1, 0);
    for (int b = 0; b < B; ++b) cu.push_back(cu.back() + T);
  }
  std::vector<int32_t> pos;
  for (int b = 0; b < B; ++b)
    for (int p = cu[size_t(b)]; p + 1 < cu[size_t(b) + 1]; ++p)
      if (mask[size_t(p) + 1] != 0.0f) pos.push_back(p);
  if (kernel == TrainKernel::Packed) m.forward_hidden_packed(tokens.data(), cu.data(), B, mask.data());
  else m.forward_hidden(tokens.data(), B, cu[1], mask.data());
  const int M = int(pos.size());
  std::vector<float> logp(pos.size());
  m.selected_logprobs(pos.data(), M, logp.data());
  double tot = 0;
  for (float l : logp) tot -= double(l);
  const double loss = M > 0 ? tot / M : 0.0;
  std::vector<float> dlogp(pos.size(), M > 0 ? -1.0f / float(M) : 0.0f);  // d(mean CE)/dlogp
  if (std::isfinite(loss)) m.backward_selected(dlogp.data());
  if (processed) *processed = tokens.size();
  return loss;
}

namespace {
constexpr const char* kSftStateFormat = "reasonrl.sft_state";
constexpr int kSftKeepCheckpoints = 2;  // periodic checkpoints kept in checkpoints/ (the final one is checkpoint/)
}  // namespace

SftResult run_sft(const SftConfig& cfg, bool resume) {
  const double t_start = now_seconds();
  SftResult res;
  res.checkpoint = cfg.run_dir + "/checkpoint";
  const RunDirLock lock(cfg.run_dir);  // before anything is written to the run directory
  InterruptScope interrupts;
  // every check (an existing run, the checkpoint to resume) before the first write
  std::string src;  // the checkpoint to resume from ("" = from the start)
  json state;
  if (resume) {
    if (run_files_present(cfg.run_dir).empty())
      throw ConfigError("--resume: run directory '" + cfg.run_dir + "' holds no run to resume: start it without --resume");
    if (std::filesystem::exists(res.checkpoint + "/" + kStateFile)) {
      const json done = read_checkpoint_state(res.checkpoint, kSftStateFormat);
      if (done.at("step").get<long>() == cfg.steps) {
        log_info("sft: '{}' is complete ({} steps): nothing to resume", cfg.run_dir, cfg.steps);
        return res;
      }
    }
    src = latest_checkpoint(cfg.run_dir);
    if (src.empty())
      log_warn("--resume: '{}' has no checkpoint yet (the run stopped before its first one): starting it from scratch",
               cfg.run_dir);
    else
      with_last_good_checkpoint(cfg.run_dir, kSftStateFormat, [&] { state = read_checkpoint_state(src, kSftStateFormat); });
  } else {
    require_fresh_run_dir(cfg.run_dir, "sft");
  }
  const int threads = setup_threads(cfg.threads);
  log_info("threads: {}", threads);

  TaskData data = load_task_data(cfg.data);
  const datasets::PromptTemplate tpl(cfg.data.prompt_template);
  std::unique_ptr<model::Model> m;
  datasets::Tokenizer tok;
  std::string tok_text;  // tokenizer.json as first written or read (checkpoints copy it byte for byte)
  if (!src.empty() || !cfg.init_from.empty()) {
    const std::string from = src.empty() ? cfg.init_from : src;
    with_last_good_checkpoint(src.empty() ? "" : cfg.run_dir, kSftStateFormat, [&] {
      tok = datasets::Tokenizer::load(from + "/tokenizer.json");
      tok_text = read_file(from + "/tokenizer.json");
      if (src.empty()) verify_checkpoint_dir(from); else check_tokenizer(state, from);
      m = model::load_model(from);
    });
  } else {
    tok = setup_tokenizer(cfg.tokenizer, data, tpl);
    tok_text = tok.to_json_text();
    model::ModelConfig mc = cfg.model;
    if (mc.vocab_size != tok.vocab_size()) {
      log_info("model.vocab_size {} -> {} (the tokenizer's)", mc.vocab_size, tok.vocab_size());
      mc.vocab_size = tok.vocab_size();
    }
    m = std::make_unique<model::Model>(mc);
    m->init_weights(cfg.seed);
  }
  log_info("model: {} parameters, {} active per token", m->num_params(), m->num_active_params());

  // SFT sequences: the task's own chains of thought, or a JSONL file.
  std::vector<datasets::Example> sft_examples = data.train;
  if (!cfg.sft_file.empty()) sft_examples = datasets::load_jsonl(cfg.sft_file, datasets::DatasetConfig{});
  std::vector<datasets::SftSequence> seqs;
  seqs.reserve(sft_examples.size());
  const int max_len = m->config().max_position_embeddings;
  for (const auto& e : sft_examples) {
    auto s = tpl.encode_sft(tok, e);
    if (int(s.ids.size()) > max_len)
      throw ConfigError((e.source.empty() ? "SFT example '" + e.id + "'" : e.source + ": the SFT example") + " has " +
                        std::to_string(s.prompt_len) + " prompt + " + std::to_string(int(s.ids.size()) - s.prompt_len) +
                        " target = " + std::to_string(s.ids.size()) +
                        " tokens, more than the model's context (max_position_embeddings " + std::to_string(max_len) +
                        "). HINT: drop or shorten the example, or use a model with a longer context");
    seqs.push_back(std::move(s));
  }
  const int pad = tok.pad_id() >= 0 ? tok.pad_id() : tok.eos_id();

  model::AdamWConfig oc = cfg.optim;
  if (oc.max_steps == 0) oc.max_steps = cfg.steps;
  model::AdamW opt(oc);
  Rng rng(Rng::derive_seed(cfg.seed, 11));
  std::vector<size_t> order(seqs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t cursor = order.size();  // forces a shuffle first
  long start_step = 0;
  if (!src.empty()) {
    start_step = state.at("step").get<long>();
    rng.from_json(state.at("rng"));
    order = state.at("order").get<std::vector<size_t>>();
    cursor = state.at("cursor").get<size_t>();
    if (order.size() != seqs.size() || cursor > order.size())
      throw FormatError(src + "/" + kStateFile + ": its data order has " + std::to_string(order.size()) +
                        " sequences, the data has " + std::to_string(seqs.size()) + " (another data config?)");
    opt.load(src + "/" + model::kOptimizerFile, *m);
    log_info("sft: resumed from {} at step {}", src, start_step);
  }
  // state of the loop after `step` steps, as a checkpoint directory (the weights must be finite)
  auto save = [&](const std::string& dir, long step) {
    json st;
    st["rng"] = rng.to_json();
    st["order"] = order;
    st["cursor"] = cursor;
    try {
      commit_checkpoint(dir, kSftStateFormat, step, st, {m.get()}, [&](const std::string& tmp) {
        model::save_checkpoint(*m, tmp);
        write_file_atomic(tmp + "/tokenizer.json", tok_text);
        opt.save(tmp + "/" + model::kOptimizerFile);
      });
    } catch (const NumericError& e) {
      throw NumericError(std::string(e.what()) + "; the last good checkpoint is " +
                         last_good_checkpoint(cfg.run_dir, kSftStateFormat));
    }
  };

  // the run directory's files, now that every check passed
  if (src.empty()) {
    save_resolved_config(cfg.run_dir, config_to_json(cfg), "sft");
  } else {
    warn_if_config_differs(cfg.run_dir, config_to_json(cfg));
    truncate_metrics_file(cfg.run_dir + "/metrics.jsonl", start_step);
    truncate_metrics_file(cfg.run_dir + "/evals.jsonl", start_step);
  }
  MetricsWriter mw(cfg.run_dir + "/metrics.jsonl", !src.empty());
  MetricsWriter ew(cfg.run_dir + "/evals.jsonl", !src.empty());
  auto run_eval = [&](long step) {
    EvalResult er = evaluate_greedy(*m, tok, tpl, data.heldout, cfg.eval,
                                    pass_k_due(cfg.eval, step, step == start_step || step == cfg.steps));
    if (cfg.eval.save_samples) write_eval_samples(cfg.run_dir, step, data.heldout, er);
    Metrics em;
    for (const auto& [k, v] : eval_metric_items(er)) em.set("eval/" + k, v);
    ew.write(step, em);
    log_eval(step, er);
    return er;
  };
  if (start_step == 0 && cfg.eval.size > 0 && !data.heldout.empty()) res.initial_eval = run_eval(0);

  const int V = m->config().vocab_size;
  Progress prog("sft", cfg.steps, start_step);
  double loss = 0;
  for (long step = start_step; step < cfg.steps; ++step) {
    const double t0 = now_seconds();
    std::vector<const datasets::SftSequence*> batch;
    for (int b = 0; b < cfg.batch_size; ++b) {
      if (cursor >= order.size()) {  // new epoch: Fisher-Yates shuffle
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
        cursor = 0;
      }
      batch.push_back(&seqs[order[cursor++]]);
    }
    int longest = 0;
    double target_tokens = 0;
    for (const auto* q : batch) {
      longest = std::max(longest, int(q->ids.size()));
      target_tokens += double(q->ids.size()) - double(std::min<size_t>(q->ids.size(), size_t(std::max(q->prompt_len, 0))));
    }
    const TrainKernel kern = resolve_train_kernel(cfg.train_kernel, V, longest, policy::SamplingParams{});
    m->zero_grad();
    size_t processed = 0;
    loss = sft_loss_and_grad(*m, batch, pad, kern, &processed);
    if (!std::isfinite(loss)) throw NumericError("sft step " + std::to_string(step) + ": loss is " + std::to_string(loss));
    const double lr = oc.lr_at(step);
    const double gnorm = opt.step(*m, float(lr));
    const auto viol = m->update_router_bias();
    const double dt = now_seconds() - t0;

    Metrics mt;
    mt.set("loss", loss);
    mt.set("mtp_loss", m->last_mtp_loss());
    mt.set("balance_loss", m->last_balance_loss());
    mt.set("grad_norm", gnorm);
    mt.set("lr", lr);
    double vmax = 0;
    for (float v : viol) vmax = std::max<double>(vmax, v);
    mt.set("moe/max_violation", vmax);
    mt.set("tokens_per_s", double(processed) / dt);
    mt.set("target_tokens", target_tokens);
    mt.set("time/step_ms", dt * 1e3);
    mw.write(step + 1, mt);
    prog.update(step + 1, {{"loss", fmt::format("{:.4f}", loss)}, {"tok/s", fmt::format("{:.0f}", double(processed) / dt)}});
    if (cfg.eval.every > 0 && (step + 1) % cfg.eval.every == 0 && step + 1 < cfg.steps && cfg.eval.size > 0) {
      prog.finish();
      run_eval(step + 1);
    }
    const bool stop = step + 1 < cfg.steps && interrupt_signal(false) != 0;
    if ((cfg.save_every > 0 && (step + 1) % cfg.save_every == 0 && step + 1 < cfg.steps) || stop) {
      save(checkpoint_dir(cfg.run_dir, step + 1), step + 1);
      set_latest_checkpoint(cfg.run_dir, step + 1);
      prune_checkpoints(cfg.run_dir, kSftKeepCheckpoints);
    }
    if (stop) {
      prog.finish();
      throw_interrupted("sft", step + 1, checkpoint_dir(cfg.run_dir, step + 1),
                        "reasonrl sft --run_dir " + cfg.run_dir + " --resume (with the same config)");
    }
  }
  prog.finish();
  res.final_loss = loss;
  if (cfg.eval.size > 0 && !data.heldout.empty()) res.final_eval = run_eval(cfg.steps);
  save(res.checkpoint, cfg.steps);
  res.seconds = now_seconds() - t_start;
  log_info("sft done in {:.1f}s: final loss {:.4f}; checkpoint {}", res.seconds, loss, res.checkpoint);
  return res;
}

}  // namespace reasonrl::train
