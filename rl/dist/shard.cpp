// shard.cpp: group sharding and the trainer's all-gathers / all-reduces over the process group.
#include "rl/dist/shard.h"

#include <algorithm>
#include <cstring>

#include "rl/util/config.h"
#include "rl/util/error.h"

namespace reasonrl::dist {

namespace {

std::string pack(const std::vector<double>& v) {
  std::string s(v.size() * sizeof(double), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}
std::vector<double> unpack(const std::string& s) {
  std::vector<double> v(s.size() / sizeof(double));
  if (!v.empty()) std::memcpy(v.data(), s.data(), v.size() * sizeof(double));
  return v;
}

}  // namespace

std::vector<int> shard(const std::vector<int>& ids) {
  const Dist& d = dist();
  std::vector<int> out;
  for (size_t i = size_t(d.rank); i < ids.size(); i += size_t(d.size)) out.push_back(ids[i]);
  return out;
}

void allgather_round(std::vector<int>& prompt_ids, std::vector<int>& n_correct, std::vector<double>& rewards, int G) {
  Dist& d = dist();
  if (d.size <= 1) return;
  const size_t w = size_t(G) + 2;
  std::vector<double> mine;
  for (size_t g = 0; g < prompt_ids.size(); ++g) {
    mine.push_back(prompt_ids[g]);
    mine.push_back(n_correct[g]);
    mine.insert(mine.end(), rewards.begin() + long(g * size_t(G)), rewards.begin() + long((g + 1) * size_t(G)));
  }
  std::vector<std::vector<double>> per_rank;
  size_t total = 0;
  for (const auto& b : d.allgather(pack(mine))) {
    per_rank.push_back(unpack(b));
    total += per_rank.back().size() / w;
  }
  prompt_ids.clear();
  n_correct.clear();
  rewards.clear();
  for (size_t g = 0; g < total; ++g) {
    const auto& src = per_rank[g % size_t(d.size)];
    const size_t at = (g / size_t(d.size)) * w;
    if (at + w > src.size()) throw Error("data parallel: rank " + std::to_string(g % size_t(d.size)) + " is missing group " +
                                         std::to_string(g) + " of the round (groups must be sharded round-robin)");
    prompt_ids.push_back(int(src[at]));
    n_correct.push_back(int(src[at + 1]));
    rewards.insert(rewards.end(), src.begin() + long(at + 2), src.begin() + long(at + w));
  }
}

std::vector<double> allgather_positions(const std::vector<int>& pos, const std::vector<double>& vals, int width) {
  const size_t w = size_t(width);
  if (vals.size() != pos.size() * w)
    throw Error("allgather_positions: " + std::to_string(vals.size()) + " values for " + std::to_string(pos.size()) +
                " records of width " + std::to_string(width));
  Dist& d = dist();
  if (d.size <= 1) {
    std::vector<double> out(vals.size());
    for (size_t i = 0; i < pos.size(); ++i) std::copy_n(vals.begin() + long(i * w), w, out.begin() + long(size_t(pos[i]) * w));
    return out;
  }
  std::vector<double> mine;
  for (size_t i = 0; i < pos.size(); ++i) {
    mine.push_back(pos[i]);
    mine.insert(mine.end(), vals.begin() + long(i * w), vals.begin() + long((i + 1) * w));
  }
  std::vector<std::vector<double>> recs;
  size_t total = 0;
  for (const auto& b : d.allgather(pack(mine))) {
    recs.push_back(unpack(b));
    total += recs.back().size() / (w + 1);
  }
  std::vector<double> out(total * w, 0.0);
  std::vector<char> seen(total, 0);
  for (const auto& r : recs)
    for (size_t at = 0; at + w + 1 <= r.size(); at += w + 1) {
      const size_t p = size_t(r[at]);
      if (p >= total || seen[p]) throw Error("data parallel: group position " + std::to_string(p) + " is out of range or owned twice");
      seen[p] = 1;
      std::copy_n(r.begin() + long(at + 1), w, out.begin() + long(p * w));
    }
  return out;
}

std::vector<double> select_positions(const std::vector<double>& all, const std::vector<int>& pos, int width) {
  const size_t w = size_t(width);
  std::vector<double> out;
  out.reserve(pos.size() * w);
  for (int p : pos) out.insert(out.end(), all.begin() + long(size_t(p) * w), all.begin() + long((size_t(p) + 1) * w));
  return out;
}

void allreduce(rl::BatchCounts& c) {
  double v[2] = {c.tokens, c.sequences};
  dist().allreduce_sum(v, 2);
  c.tokens = v[0];
  c.sequences = v[1];
}

void allreduce(rl::LossStats& s) {
  double v[] = {s.tokens,        s.sequences,    s.clip_low,    s.clip_high,     s.dual_clip,  s.ratio_sum, s.approx_kl_old_sum,
                s.kl_ref_sum,    s.tis_weight_sum, s.tis_truncated, s.pg_loss_sum, s.kl_loss_sum};
  dist().allreduce_sum(v, sizeof(v) / sizeof(v[0]));
  double* p = v;
  for (double* f : {&s.tokens, &s.sequences, &s.clip_low, &s.clip_high, &s.dual_clip, &s.ratio_sum, &s.approx_kl_old_sum,
                    &s.kl_ref_sum, &s.tis_weight_sum, &s.tis_truncated, &s.pg_loss_sum, &s.kl_loss_sum})
    *f = *p++;
  dist().allreduce_max(&s.ratio_max, 1);
}

void allreduce(policy::RolloutStats& s) {
  double v[] = {double(s.tokens_generated), double(s.tokens_discarded), double(s.rows_computed), double(s.prefill_tokens),
                double(s.n_partial), double(s.n_restarted)};
  dist().allreduce_sum(v, 6);
  s.tokens_generated = int64_t(v[0]);
  s.tokens_discarded = int64_t(v[1]);
  s.rows_computed = int64_t(v[2]);
  s.prefill_tokens = int64_t(v[3]);
  s.n_partial = int(v[4]);
  s.n_restarted = int(v[5]);
}

void allreduce_grads(model::Model& m) {
  auto g = m.grads();
  dist().allreduce_sum(g.data(), g.size());
}

void sync_router_bias(model::Model& m, std::vector<float>& violation) {
  Dist& d = dist();
  if (d.size <= 1) return;
  auto p = m.params();
  for (const auto& t : m.tensors())
    if (!t.trainable) d.broadcast(p.data() + t.offset, t.size * sizeof(float), 0);
  size_t n = violation.size();
  d.broadcast(&n, sizeof(n), 0);
  violation.resize(n);
  if (n) d.broadcast(violation.data(), n * sizeof(float), 0);
}

namespace {
// Binary rows (texts are raw bytes and need not be valid UTF-8, so not JSON): magic, version, then fields.
constexpr char kSamplesMagic[8] = {'R', 'R', 'L', 'S', 'M', 'P', 'L', '2'};
struct Out {
  std::string s;
  template <class T>
  void pod(T v) { s.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
  void str(const std::string& x) { pod(uint64_t(x.size())); s += x; }
};
struct In {
  const std::string& s;
  size_t at = 0;
  void need(size_t n) {
    if (at + n > s.size()) throw FormatError("data parallel: sample rows from another rank are truncated");
  }
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, s.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = size_t(pod<uint64_t>());
    need(n);
    std::string x = s.substr(at, n);
    at += n;
    return x;
  }
};
}  // namespace

std::string samples_to_bytes(const std::vector<store::SampleRecord>& rows) {
  Out o;
  o.s.append(kSamplesMagic, 8);
  o.pod(uint64_t(rows.size()));
  for (const auto& r : rows) {
    o.pod(int64_t(r.step));
    o.pod(int64_t(r.prompt_id));
    o.pod(int32_t(r.group_id));
    o.pod(int32_t(r.group_index));
    o.str(r.text);
    o.pod(int32_t(r.n_tokens));
    o.str(r.finish_reason);
    o.pod(uint64_t(r.reward_components.size()));
    for (const auto& [k, v] : r.reward_components) {
      o.str(k);
      o.pod(uint8_t(v.has_value()));
      o.pod(v.value_or(0.0));
    }
    o.pod(uint64_t(r.reward_errors.size()));
    for (const auto& [k, why] : r.reward_errors) {
      o.str(k);
      o.str(why);
    }
    o.pod(r.reward);
    o.pod(uint8_t(r.correct));
    o.pod(r.advantage);
    o.pod(int32_t(r.policy_version_min));
    o.pod(int32_t(r.policy_version_max));
    o.pod(uint64_t(r.segments.size()));
    for (const auto& g : r.segments) {
      o.pod(int32_t(g.policy_version));
      o.pod(int32_t(g.n_tokens));
    }
  }
  return o.s;
}

std::vector<store::SampleRecord> samples_from_bytes(const std::string& bytes) {
  if (bytes.size() < 8 || bytes.compare(0, 8, std::string(kSamplesMagic, 8)) != 0)
    throw FormatError("data parallel: sample rows from another rank do not start with the RRLSMPL2 magic (version 2)");
  In in{bytes, 8};
  std::vector<store::SampleRecord> out(size_t(in.pod<uint64_t>()));
  for (auto& r : out) {
    r.step = in.pod<int64_t>();
    r.prompt_id = in.pod<int64_t>();
    r.group_id = in.pod<int32_t>();
    r.group_index = in.pod<int32_t>();
    r.text = in.str();
    r.n_tokens = in.pod<int32_t>();
    r.finish_reason = in.str();
    for (auto n = in.pod<uint64_t>(); n > 0; --n) {
      std::string k = in.str();
      const bool has = in.pod<uint8_t>() != 0;
      const double v = in.pod<double>();
      r.reward_components[k] = has ? std::optional<double>(v) : std::nullopt;
    }
    for (auto n = in.pod<uint64_t>(); n > 0; --n) {
      std::string k = in.str();
      r.reward_errors[k] = in.str();
    }
    r.reward = in.pod<double>();
    r.correct = in.pod<uint8_t>() != 0;
    r.advantage = in.pod<double>();
    r.policy_version_min = in.pod<int32_t>();
    r.policy_version_max = in.pod<int32_t>();
    for (auto n = in.pod<uint64_t>(); n > 0; --n) {
      store::Segment g;
      g.policy_version = in.pod<int32_t>();
      g.n_tokens = in.pod<int32_t>();
      r.segments.push_back(g);
    }
  }
  if (in.at != bytes.size()) throw FormatError("data parallel: trailing bytes after the sample rows from another rank");
  return out;
}

std::vector<store::SampleRecord> gather_samples(const std::vector<store::SampleRecord>& mine) {
  Dist& d = dist();
  if (d.size <= 1) return mine;
  std::vector<store::SampleRecord> all;
  for (const auto& b : d.gather(samples_to_bytes(mine), 0)) {
    auto rows = samples_from_bytes(b);
    all.insert(all.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
  }
  std::stable_sort(all.begin(), all.end(), [](const store::SampleRecord& a, const store::SampleRecord& b) {
    return a.group_id != b.group_id ? a.group_id < b.group_id : a.group_index < b.group_index;
  });
  return all;
}

}  // namespace reasonrl::dist
