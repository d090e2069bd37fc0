// rollout.cpp: the rollout engine: admission (prefill once per group, fork the slot), continuous batching with row
// compaction, per-row sampling streams, finish reasons, budgets, restarts and emission of complete groups.
#include "policy/rollout.h"

#include <algorithm>
#include <deque>
#include <string>

#include "model/parallel.h"
#include "policy/logprob.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::policy {

void RolloutConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError(msg);
  };
  need(num_generations >= 1, "num_generations must be >= 1");
  need(max_completion_length >= 1, "max_completion_length must be >= 1");
  need(max_batch >= 1, "max_batch must be >= 1");
  sampling().validate();
  for (int id : stop_token_ids) need(id >= 0, "stop_token_ids must be >= 0, got " + std::to_string(id));
  need(repeat_max_ngram >= 1, "repeat_max_ngram must be >= 1");
  need(repeat_min_repeats >= 2, "repeat_min_repeats must be >= 2");
  need(repeat_min_tokens >= 1, "repeat_min_tokens must be >= 1");
  need(partial_rollout_budget >= 0, "partial_rollout_budget must be >= 0 (0 = none)");
  need(partial_rollout_segment >= 0, "partial_rollout_segment must be >= 0 (0 = none)");
  need(loss_max_staleness >= 0, "loss_max_staleness must be >= 0");
  need(!(static_batch && partial_rollout), "static_batch is a baseline for full rollouts; it cannot be combined with partial_rollout");
}

bool RolloutConfig::fused_sampling(int vocab, bool decoder_has_fused) const {
  const bool untruncated = sampling().untruncated(vocab);
  if (sample_kernel == SampleKernel::Auto) return untruncated && vocab >= kFusedSampleMinVocab && decoder_has_fused;
  if (sample_kernel == SampleKernel::Reference) return false;
  if (!untruncated)
    throw ConfigError(std::string("sample_kernel fused draws from the whole softmax, but the sampling is ") +
                      (sampling().greedy() ? "greedy" : "truncated (top_k, top_p or min_p)") +
                      ". HINT: use sample_kernel reference or auto");
  if (!decoder_has_fused)
    throw ConfigError("sample_kernel fused: this decoder has no fused sampling head. HINT: use reference or auto");
  return true;
}

double RolloutStats::useful_fraction() const {
  return rows_computed > 0 ? double(tokens_generated - tokens_discarded) / double(rows_computed) : 0.0;
}

std::vector<uint8_t> loss_mask_for(const Trajectory& t, LossSegments mode, int current, int loss_max_staleness) {
  std::vector<uint8_t> m(t.tokens.size(), 1);
  for (size_t i = 0; i < m.size(); ++i) {
    const int age = current - t.versions[i];
    if (mode == LossSegments::CurrentOnly) m[i] = age == 0 ? 1 : 0;
    else if (mode == LossSegments::WithinStaleness) m[i] = age <= loss_max_staleness ? 1 : 0;
  }
  return m;
}

namespace {

uint64_t row_seed(uint64_t seed, int64_t prompt_id, int version, int group_index, int restarts) {
  const uint64_t s = Rng::derive_seed(seed, uint64_t(prompt_id), uint64_t(uint32_t(version)));
  return Rng::derive_seed(s, uint64_t(group_index), uint64_t(restarts));
}

struct Row {
  Trajectory* t = nullptr;
  int slot = -1;
  int32_t next_input = 0;
  int seg_tokens = 0;   // tokens generated for this trajectory in this call
  bool padding = false;  // static batch: finished, still computed
  RepeatDetector rep;
  SamplerChain chain;
};

}  // namespace

RolloutEngine::RolloutEngine(RolloutConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  const auto& c = cfg_;
  if (c.partial_rollout && c.partial_rollout_segment > 0 && c.max_staleness >= 0 &&
      int64_t(c.partial_rollout_segment) * (c.max_staleness + 1) < c.max_completion_length)
    log_warn("rollout: partial_rollout_segment {} x (max_staleness {} + 1) < max_completion_length {}: responses longer "
             "than {} tokens are restarted before they can finish",
             c.partial_rollout_segment, c.max_staleness, c.max_completion_length,
             int64_t(c.partial_rollout_segment) * (c.max_staleness + 1));
}

RolloutResult RolloutEngine::generate(Decoder& dec, const std::vector<Prompt>& prompts, int version, ReplayBuffer* buffer) {
  const double t_start = now_seconds();
  const RolloutConfig& c = cfg_;
  if (c.partial_rollout && !buffer) throw ConfigError("partial_rollout needs a replay buffer (generate(..., &buffer))");
  if (dec.n_slots() < slots_needed())
    throw ConfigError("decoder has " + std::to_string(dec.n_slots()) + " slots; the engine needs max_batch + 1 = " +
                      std::to_string(slots_needed()));
  const int V = dec.vocab();
  for (int id : c.stop_token_ids)
    if (id >= V) throw ConfigError("stop token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(V) + ")");
  const SamplingParams sp = c.sampling();
  const SamplerChain proto_chain = make_sampler_chain(sp);
  // A deterministic decoder records sampling_logprob of materialised logits, which the fused head never forms: it keeps
  // the sampler chain (auto), and a forced fused kernel is an error.
  if (dec.deterministic() && c.sample_kernel == SampleKernel::Fused)
    throw ConfigError("rollout.sample_kernel fused cannot run with deterministic: true (the rollout records "
                      "sampling_logprob of the decode logits). HINT: use sample_kernel auto or reference");
  const bool fused = !dec.deterministic() && c.fused_sampling(V, dec.has_fused_sampling());
  const RepeatParams rp = c.repeat();

  ReplayBuffer local;
  ReplayBuffer& buf = buffer ? *buffer : local;
  RolloutResult res;
  RolloutStats& st = res.stats;

  auto check_fits = [&](int64_t prompt_id, size_t prompt_len) {
    if (prompt_len == 0) throw Error("prompt " + std::to_string(prompt_id) + " has no tokens");
    if (int64_t(prompt_len) + c.max_completion_length > dec.max_seq_len())
      throw CapacityError("prompt " + std::to_string(prompt_id) + " has " + std::to_string(prompt_len) +
                          " tokens; with max_completion_length " + std::to_string(c.max_completion_length) +
                          " it needs " + std::to_string(prompt_len + size_t(c.max_completion_length)) +
                          " KV positions but a decoder slot holds " + std::to_string(dec.max_seq_len()));
  };
  // New groups go after the buffered ones (older work first).
  for (const auto& p : prompts) {
    check_fits(p.id, p.tokens.size());
    RolloutGroup g;
    g.prompt_id = p.id;
    g.prompt = p.tokens;
    g.created_version = version;
    for (int k = 0; k < c.num_generations; ++k) {
      Trajectory t;
      t.prompt_id = p.id;
      t.group_index = k;
      t.prompt = p.tokens;
      t.rng.reseed(row_seed(c.seed, p.id, version, k, 0));
      g.members.push_back(std::move(t));
    }
    buf.groups().push_back(std::move(g));
  }
  // Restart what is too old; queue every unfinished trajectory.
  struct Item {
    int g, m;
  };
  std::deque<Item> queue;
  for (int gi = 0; gi < int(buf.groups().size()); ++gi) {
    auto& g = buf.groups()[size_t(gi)];
    check_fits(g.prompt_id, g.prompt.size());
    for (int mi = 0; mi < int(g.members.size()); ++mi) {
      Trajectory& t = g.members[size_t(mi)];
      if (t.finished) continue;
      if (c.max_staleness >= 0 && t.start_version >= 0 && version - t.start_version > c.max_staleness) {
        st.tokens_discarded += t.length();
        t.clear_response();
        ++t.restarts;
        t.rng.reseed(row_seed(c.seed, t.prompt_id, version, t.group_index, t.restarts));
        ++st.n_restarted;
      }
      queue.push_back({gi, mi});
    }
  }

  // Slots: max_batch rows + one staging slot holding a prefilled prompt while its group is being forked.
  std::vector<int> free_slots;
  for (int s = slots_needed() - 1; s >= 0; --s) {
    dec.reset(s);
    free_slots.push_back(s);
  }
  auto take_slot = [&] {
    const int s = free_slots.back();
    free_slots.pop_back();
    return s;
  };
  auto give_slot = [&](int s) {
    dec.reset(s);
    free_slots.push_back(s);
  };
  int staging = -1, staging_group = -1;
  std::vector<float> staging_logits(static_cast<size_t>(V)), row_logits(static_cast<size_t>(V));
  std::vector<float> logits(fused ? 0 : size_t(c.max_batch) * size_t(V));  // (max_batch, V); none when fused
  std::vector<Row> rows;  // active rows, compacted
  rows.reserve(size_t(c.max_batch));
  std::vector<Candidates> scratch(fused ? 1 : size_t(c.max_batch));
  const bool budgeted = c.partial_rollout && c.partial_rollout_budget > 0;
  auto budget_left = [&] { return !budgeted || st.tokens_generated < c.partial_rollout_budget; };

  // Router replay: the decoder's routes, W per row, recorded with each token (rows of -1 for earlier tokens that have
  // none, e.g. a segment from a checkpoint written before routes were kept).
  const int W = dec.route_width();
  std::vector<int16_t> staging_routes(size_t(W), -1);
  // Appends a sampled token (its row's routes: W ids); returns true if the row leaves the batch (finished or cut).
  auto append = [&](Row& r, int32_t tok, double lp, const int16_t* route) -> bool {
    Trajectory& t = *r.t;
    if (t.start_version < 0) t.start_version = version;
    if (r.seg_tokens == 0) t.segments.push_back({t.length(), t.length(), version});
    if (W > 0) {
      if (t.route_width != W) t.routes.clear();  // none so far, or another model's
      t.route_width = W;
      t.routes.resize(t.tokens.size() * size_t(W), int16_t(-1));
      t.routes.insert(t.routes.end(), route, route + W);
    }
    t.tokens.push_back(tok);
    t.logp.push_back(float(lp));
    t.versions.push_back(version);
    t.segments.back().end = t.length();
    ++r.seg_tokens;
    ++st.tokens_generated;
    const int period = r.rep.push(tok);
    bool leave = true;
    if (std::find(c.stop_token_ids.begin(), c.stop_token_ids.end(), tok) != c.stop_token_ids.end()) {
      t.finish = FinishReason::Stop;
      ++st.n_stop;
    } else if (period > 0) {
      t.finish = FinishReason::Repeat;
      t.repeat_period = period;
      ++st.n_repeat;
    } else if (t.length() >= c.max_completion_length) {
      t.finish = FinishReason::Length;
      ++st.n_length;
    } else if (c.partial_rollout && c.partial_rollout_segment > 0 && r.seg_tokens >= c.partial_rollout_segment) {
      t.finish = FinishReason::Partial;
      ++st.n_partial;
    } else {
      r.next_input = tok;
      leave = false;
    }
    if (leave && t.finish != FinishReason::Partial) t.finished = true;
    if (on_token_) on_token_(t, tok);  // t.finished / t.finish already describe this token
    return leave;
  };
  const bool det = dec.deterministic();
  auto sample_row = [&](Row& r, Candidates& cand, const float* lg, double* lp) {
    if (fused) return dec.sample_logits(lg, sp.temperature, r.t->rng.uniform(), lp);
    const int32_t tok = sample_token(r.chain, cand, lg, V, r.t->rng, lp);
    if (det && lp) {  // the trainer's own log-prob function of these logits (bit-identical to its forward's)
      float f = 0;
      sampling_logprob(lg, 1, V, sp, &tok, &f);
      *lp = double(f);
    }
    return tok;
  };
  // A row leaves the batch; an unfinished one (cut) keeps its cache when partial_rollout_kv = reuse.
  const bool reuse_kv = c.partial_rollout && c.partial_rollout_kv == PartialKv::Reuse;
  auto release_row = [&](Row& r) {
    if (reuse_kv && !r.t->finished && !dec.save_slot(r.slot, &r.t->kv)) r.t->kv.clear();
    give_slot(r.slot);
  };
  auto release_staging = [&] {
    if (staging >= 0) give_slot(staging);
    staging = staging_group = -1;
  };

  // Admits queued trajectories into free rows (continuous: whenever a row is free; static: only into an empty batch).
  auto admit = [&] {
    if (c.static_batch && !rows.empty()) return;
    while (int(rows.size()) < c.max_batch && !queue.empty() && budget_left()) {
      const Item it = queue.front();
      queue.pop_front();
      auto& g = buf.groups()[size_t(it.g)];
      Row r;
      r.t = &g.members[size_t(it.m)];
      r.chain = proto_chain;
      r.rep = RepeatDetector(rp);
      r.rep.reset();
      for (int32_t tok : r.t->tokens) r.rep.push(tok);  // a continued trajectory's tail so far
      const double tp = now_seconds();
      if (reuse_kv && r.t->length() > 0 && !r.t->kv.empty()) {  // continued with its saved cache: no prefill
        r.slot = take_slot();
        dec.load_slot(r.slot, r.t->kv);
        const int want_len = int(g.prompt.size()) + r.t->length() - 1;
        if (dec.length(r.slot) != want_len)
          throw FormatError("saved cache of prompt " + std::to_string(g.prompt_id) + " sample " +
                            std::to_string(r.t->group_index) + " holds " + std::to_string(dec.length(r.slot)) +
                            " positions; its prompt and response need " + std::to_string(want_len));
        st.restored_tokens += want_len;
        std::vector<float>().swap(r.t->kv);
        r.next_input = r.t->tokens.back();  // the next decode step feeds it and samples the next token
        st.prefill_seconds += now_seconds() - tp;
        rows.push_back(std::move(r));
        continue;
      }
      const float* lg;
      const int16_t* route = nullptr;
      if (r.t->length() == 0) {  // fresh: prefill the prompt once per group, fork the slot
        if (staging_group != it.g) {
          release_staging();
          staging = take_slot();
          staging_group = it.g;
          dec.prefill(staging, g.prompt.data(), int(g.prompt.size()), staging_logits.data());
          if (W > 0) std::copy_n(dec.last_routes(), W, staging_routes.data());
          st.prefill_tokens += int64_t(g.prompt.size());
        }
        r.slot = take_slot();
        dec.copy_slot(staging, r.slot);
        lg = staging_logits.data();
        route = staging_routes.data();
        const bool more = !queue.empty() && queue.front().g == it.g && g.members[size_t(queue.front().m)].length() == 0;
        if (!more) release_staging();
      } else {  // continued: re-prefill prompt + response so far with the current weights
        r.slot = take_slot();
        std::vector<int32_t> ctx = g.prompt;
        ctx.insert(ctx.end(), r.t->tokens.begin(), r.t->tokens.end());
        dec.prefill(r.slot, ctx.data(), int(ctx.size()), row_logits.data());
        st.prefill_tokens += int64_t(ctx.size());
        lg = row_logits.data();
        route = W > 0 ? dec.last_routes() : nullptr;
      }
      st.prefill_seconds += now_seconds() - tp;
      ++st.rows_computed;
      double lp = 0;
      const int32_t tok = sample_row(r, scratch[0], lg, &lp);
      if (append(r, tok, lp, route)) {
        if (c.static_batch) {
          r.padding = true;
          r.next_input = tok;
          rows.push_back(std::move(r));
        } else {
          release_row(r);
        }
      } else {
        rows.push_back(std::move(r));
      }
    }
  };

  std::vector<int> slots_in(size_t(c.max_batch));
  std::vector<int32_t> toks_in(size_t(c.max_batch)), toks_out(size_t(c.max_batch));
  std::vector<double> lps(size_t(c.max_batch)), us(size_t(c.max_batch));
  admit();
  while (!rows.empty()) {
    if (!budget_left()) {  // the budget ran out: cut everything in flight, to be continued next call
      for (auto& r : rows) {
        ++st.n_partial;
        release_row(r);
      }
      rows.clear();
      break;
    }
    if (c.static_batch && std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.padding; })) {
      for (auto& r : rows) give_slot(r.slot);
      rows.clear();
      admit();
      continue;
    }
    const int n = int(rows.size());
    for (int i = 0; i < n; ++i) {
      slots_in[size_t(i)] = rows[size_t(i)].slot;
      toks_in[size_t(i)] = rows[size_t(i)].next_input;
    }
    const double td = now_seconds();
    if (fused) {  // each row's uniform from its own stream, as the dist sampler draws it; the head samples
      for (int i = 0; i < n; ++i) us[size_t(i)] = rows[size_t(i)].padding ? 0.5 : rows[size_t(i)].t->rng.uniform();
      dec.decode_step_sample(slots_in.data(), toks_in.data(), n, sp.temperature, us.data(), toks_out.data(), lps.data());
    } else {
      dec.decode_step(slots_in.data(), toks_in.data(), n, logits.data());
    }
    const double ts = now_seconds();
    st.decode_seconds += ts - td;
    st.rows_computed += n;
    st.max_rows = std::max<int64_t>(st.max_rows, n);
    ++st.decode_steps;
    // Sampling: each row owns its RNG stream, so the result does not depend on the thread count. A row costs about
    // V exps (~1.5 us at V = 512), so eight rows already pay for a parallel region.
    if (!fused) {
      model::parallel_for(n, int64_t(n) * V >= (int64_t(1) << 12), [&](int i) {
        Row& r = rows[size_t(i)];
        if (r.padding) return;
        toks_out[size_t(i)] = sample_row(r, scratch[size_t(i)], logits.data() + size_t(i) * size_t(V), &lps[size_t(i)]);
      });
      st.sample_seconds += now_seconds() - ts;
    }
    // Append in row order; compact the batch (finished rows leave at once).
    size_t w = 0;
    for (int i = 0; i < n; ++i) {
      Row& r = rows[size_t(i)];
      bool leave = false;
      if (!r.padding) {
        leave = append(r, toks_out[size_t(i)], lps[size_t(i)], W > 0 ? dec.last_routes() + size_t(i) * W : nullptr);
        if (leave && c.static_batch) {
          r.padding = true;
          r.next_input = toks_out[size_t(i)];
          leave = false;
        }
      }
      if (leave) release_row(r);
      else {
        if (w != size_t(i)) rows[w] = std::move(r);
        ++w;
      }
    }
    rows.resize(w);
    admit();
  }
  release_staging();

  // Emit complete groups; keep the rest (in order) in the buffer.
  std::vector<RolloutGroup> keep;
  int64_t tok_count = 0, loss_tokens = 0;
  double tok_stale = 0, traj_stale = 0;
  for (auto& g : buf.groups()) {
    if (!g.complete()) {
      keep.push_back(std::move(g));
      continue;
    }
    ++st.groups_emitted;
    for (auto& t : g.members) {
      t.loss_mask = loss_mask_for(t, c.loss_segments, version, c.loss_max_staleness);
      for (size_t i = 0; i < t.tokens.size(); ++i) {
        tok_stale += version - t.versions[i];
        loss_tokens += t.loss_mask[i];
      }
      tok_count += t.length();
      traj_stale += t.staleness(version);
      ++st.trajectories_emitted;
      res.trajectories.push_back(std::move(t));
    }
  }
  buf.groups() = std::move(keep);
  if (tok_count > 0) {
    st.mean_token_staleness = tok_stale / double(tok_count);
    st.loss_token_fraction = double(loss_tokens) / double(tok_count);
  }
  if (st.trajectories_emitted > 0) st.mean_trajectory_staleness = traj_stale / st.trajectories_emitted;
  st.seconds = now_seconds() - t_start;
  return res;
}

}  // namespace reasonrl::policy
