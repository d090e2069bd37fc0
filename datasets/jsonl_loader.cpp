// jsonl_loader.cpp: per-layout field mapping for JSONL datasets.
#include "datasets/jsonl_loader.h"

#include <climits>
#include <sstream>

#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::datasets {
namespace {

struct LineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws) == std::string::npos ? s.size() : s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

// A string or number field as text (integers without ".0").
std::string text_of(const nlohmann::json& j, const std::string& key) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_unsigned()) return std::to_string(j.get<uint64_t>());  // past INT64_MAX: not as a negative number
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number_float()) {
    std::ostringstream os;
    os << j.get<double>();
    return os.str();
  }
  throw LineError("field '" + key + "' must be a string or a number, got " + std::string(j.type_name()));
}

const nlohmann::json* find(const nlohmann::json& o, const std::string& key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::string need(const nlohmann::json& o, const std::string& key) {
  const auto* j = find(o, key);
  if (!j) throw LineError("missing field '" + key + "'");
  return text_of(*j, key);
}

std::string opt(const nlohmann::json& o, const std::string& key) {
  const auto* j = find(o, key);
  return j ? text_of(*j, key) : std::string();
}

// First of `keys` present in o, or "".
std::string first_key(const nlohmann::json& o, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (find(o, k)) return k;
  return "";
}

// A difficulty level as an int: digits (and a leading '-') in the int range, else a LineError naming the field.
int small_int(const std::string& digits, const std::string& key) {
  try {
    size_t used = 0;
    const long long v = std::stoll(digits, &used);
    if (used == digits.size() && v >= INT_MIN && v <= INT_MAX) return int(v);
  } catch (const std::exception&) {  // out_of_range / invalid_argument: refused below
  }
  throw LineError("field '" + key + "' holds " + digits.substr(0, 40) + ", not an integer in the int range");
}

std::string strip_int(const std::string& s) {  // "025" -> "25"; others unchanged
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return s;
  const size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? "0" : s.substr(nz);
}

}  // namespace

std::string gsm8k_final_answer(const std::string& solution) {
  const size_t p = solution.rfind("####");
  if (p == std::string::npos) throw FormatError("GSM8K answer has no '####'");
  std::string a = trim(solution.substr(p + 4));
  std::string out;
  for (char c : a)
    if (c != ',') out += c;
  return out;
}

std::string last_boxed(const std::string& s) {
  size_t p = std::string::npos;
  size_t len = 0;
  for (const char* tag : {"\\boxed{", "\\fbox{"}) {
    const size_t q = s.rfind(tag);
    if (q != std::string::npos && (p == std::string::npos || q > p)) {
      p = q;
      len = std::char_traits<char>::length(tag);
    }
  }
  if (p == std::string::npos) return "";
  int depth = 1;
  for (size_t i = p + len; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    else if (s[i] == '}' && --depth == 0) return s.substr(p + len, i - p - len);
  }
  return "";
}

static Example parse_line(const nlohmann::json& o, const DatasetConfig& cfg, int line_no) {
  if (!o.is_object()) throw LineError("line is not a JSON object");
  Example e;
  e.task = cfg.task.empty() ? enum_to_string(cfg.layout) : cfg.task;
  auto key_or = [](const std::string& over, const std::string& def) { return over.empty() ? def : over; };
  std::string id_key = cfg.id_key, diff_key = cfg.difficulty_key;
  switch (cfg.layout) {
    case Layout::Generic: {
      e.prompt = need(o, key_or(cfg.prompt_key, "prompt"));
      e.answer = need(o, key_or(cfg.answer_key, "answer"));
      e.cot = opt(o, key_or(cfg.cot_key, "cot"));
      e.solution = opt(o, "solution");
      if (cfg.task.empty() && find(o, "task")) e.task = need(o, "task");
      if (const auto* m = find(o, "meta")) e.meta = json::parse(m->dump());
      id_key = key_or(id_key, "id");
      diff_key = key_or(diff_key, "difficulty");
      break;
    }
    case Layout::Gsm8k: {
      e.prompt = need(o, key_or(cfg.prompt_key, "question"));
      const std::string sol = need(o, key_or(cfg.answer_key, "answer"));
      const size_t p = sol.rfind("####");
      if (p == std::string::npos) throw LineError("GSM8K answer has no '####'");
      e.answer = gsm8k_final_answer(sol);
      e.cot = trim(sol.substr(0, p));
      int steps = 0;
      for (size_t q = e.cot.find("<<"); q != std::string::npos; q = e.cot.find("<<", q + 2)) ++steps;
      e.difficulty = steps;
      break;
    }
    case Layout::Math: {
      e.prompt = need(o, key_or(cfg.prompt_key, "problem"));
      e.cot = opt(o, key_or(cfg.cot_key, "solution"));
      const std::string ak = key_or(cfg.answer_key, "answer");
      e.answer = find(o, ak) ? need(o, ak) : last_boxed(e.cot);
      if (e.answer.empty()) throw LineError("no '" + ak + "' field and no \\boxed{} in the solution");
      if (const auto* lv = find(o, "level")) {
        const std::string s = text_of(*lv, "level");
        const size_t d = s.find_first_of("0123456789");
        if (d != std::string::npos) e.difficulty = small_int(s.substr(d, s.find_first_not_of("0123456789", d) - d), "level");
      }
      if (find(o, "subject")) e.meta["subject"] = need(o, "subject");
      id_key = key_or(id_key, "unique_id");
      break;
    }
    case Layout::Countdown: {
      std::vector<int64_t> nums;
      int64_t target;
      if (const auto* n = find(o, key_or(cfg.prompt_key, "nums"))) {  // TinyZero: nums (list) / target (int)
        if (!n->is_array()) throw LineError("field 'nums' must be a list of integers");
        for (const auto& v : *n) {
          if (!v.is_number_integer()) throw LineError("field 'nums' must be a list of integers");
          if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            throw LineError("field 'nums' holds " + v.dump() + ", out of the 64-bit integer range");
          nums.push_back(v.get<int64_t>());
        }
        const std::string t = need(o, key_or(cfg.answer_key, "target"));
        try {
          target = std::stoll(t);
        } catch (...) {
          throw LineError("field 'target' is not an integer: '" + t + "'");
        }
      } else if (find(o, "input")) {  // d1: input "30,100,93" / output "23"
        std::stringstream ss(need(o, "input"));
        std::string tok;
        while (std::getline(ss, tok, ',')) {
          try {
            nums.push_back(std::stoll(trim(tok)));
          } catch (...) {
            throw LineError("field 'input' is not a comma-separated list of integers");
          }
        }
        const std::string t = need(o, key_or(cfg.answer_key, "output"));
        try {
          target = std::stoll(trim(t));
        } catch (...) {
          throw LineError("field 'output' is not an integer: '" + t + "'");
        }
      } else {
        throw LineError("countdown line needs 'nums'/'target' or 'input'/'output'");
      }
      if (nums.empty()) throw LineError("countdown line has no numbers");
      std::string list;
      for (size_t i = 0; i < nums.size(); ++i) list += (i ? ", " : "") + std::to_string(nums[i]);
      e.prompt = "Using the numbers " + list + ", make " + std::to_string(target) + ". Use each number once with + - * /.";
      e.answer = std::to_string(target);
      e.meta = json{{"nums", nums}, {"target", target}};
      e.difficulty = int(nums.size()) - 2;
      break;
    }
    case Layout::Aime: {
      const std::string pk = !cfg.prompt_key.empty() ? cfg.prompt_key : first_key(o, {"problem", "question", "prompt"});
      if (pk.empty()) throw LineError("missing field 'problem' (or 'question' / 'prompt')");
      e.prompt = need(o, pk);
      e.answer = strip_int(trim(need(o, key_or(cfg.answer_key, "answer"))));
      e.cot = opt(o, key_or(cfg.cot_key, "solution"));
      id_key = key_or(id_key, "id");
      break;
    }
    case Layout::OlymMath: {
      e.prompt = need(o, key_or(cfg.prompt_key, "problem"));
      e.answer = need(o, key_or(cfg.answer_key, "answer"));
      if (find(o, "subject")) e.meta["subject"] = need(o, "subject");
      id_key = key_or(id_key, "unique_id");
      break;
    }
  }
  if (!cfg.cot_key.empty() && cfg.layout != Layout::Generic) e.cot = opt(o, cfg.cot_key);
  e.id = (!id_key.empty() && find(o, id_key)) ? need(o, id_key) : std::string();
  if (e.id.empty()) e.id = e.task + ":" + std::to_string(line_no);
  if (!diff_key.empty() && find(o, diff_key)) {
    const auto& d = *find(o, diff_key);
    if (!d.is_number_integer()) throw LineError("field '" + diff_key + "' must be an integer");
    e.difficulty = small_int(d.dump(), diff_key);
  }
  return e;
}

std::vector<Example> load_jsonl(const std::string& path, const DatasetConfig& cfg, LoadStats* stats) {
  cfg.validate();
  const std::string text = read_file(path);
  LoadStats st;
  std::vector<Example> out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (trim(line).empty()) continue;
    ++st.lines;
    try {
      if (int64_t(line.size()) > cfg.max_line_bytes)
        throw LineError("line of " + std::to_string(line.size()) + " bytes, over max_line_bytes (" +
                        std::to_string(cfg.max_line_bytes) + ")");
      nlohmann::json o;
      try {
        o = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        throw LineError(std::string("invalid JSON: ") + e.what());
      }
      try {
        out.push_back(parse_line(o, cfg, line_no));
      } catch (const nlohmann::json::exception& e) {
        throw LineError(e.what());
      }
      out.back().source = path + ":" + std::to_string(line_no);
      ++st.loaded;
    } catch (const LineError& e) {
      const std::string msg = path + ":" + std::to_string(line_no) + ": " + e.what();
      if (cfg.on_error == OnError::Fail) throw FormatError(msg + " (set on_error = skip to skip such lines)");
      ++st.skipped;
      if (st.skipped <= 20) log_warn("{} (line skipped: on_error = skip)", msg);
      else if (st.skipped == 21) log_warn("{}: more lines skipped; the count follows", path);
      if (st.errors.size() < 20) st.errors.push_back(msg);
    }
    if (cfg.max_examples >= 0 && int(out.size()) >= cfg.max_examples) break;
  }
  if (st.skipped > 0) log_warn("{}: {} of {} lines skipped (on_error = skip)", path, st.skipped, st.lines);
  if (stats) *stats = st;
  return out;
}

}  // namespace reasonrl::datasets
