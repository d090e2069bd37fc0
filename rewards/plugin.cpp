// plugin.cpp: reward plugins: the supervisor of out-of-process plugins (a subprocess speaking JSON lines, or a shared
// library hosted by reasonrl-reward-worker: socketpair, request ids, per-call deadline, kill + restart after a crash,
// a hang or a protocol error, RLIMIT_AS), its pool of `workers` processes scoring a batch's groups in parallel, and
// in-process shared libraries (isolation none).
#include "rewards/plugin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "rl/util/error.h"
#include "rl/util/sanitizer.h"

namespace reasonrl::rewards {

namespace {

using json = nlohmann::ordered_json;

// ---- shared library in the trainer's process (isolation none: unsafe) ---------------------------------------

class InProcessLibraryReward final : public Reward {
 public:
  explicit InProcessLibraryReward(const PluginSpec& spec) : lib_(spec.name, spec.path, spec.options) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    return lib_.score(group);
  }

 private:
  PluginLibrary lib_;
};

// ---- out-of-process plugins: a subprocess, or the worker hosting a shared library ---------------------------

// One supervised process. `who` names it in errors: "plugin 'name'", with "(worker k of N)" in a pool.
class SupervisedProcess {
 public:
  SupervisedProcess(const PluginSpec& spec, bool worker, std::string who)
      : spec_(spec), worker_(worker), who_(std::move(who)), options_(json::parse(spec.options)) {
    if (worker_) {
      program_ = reward_worker_path();
      if (access(spec.path.c_str(), R_OK) != 0)
        throw PluginError("plugin '" + spec.name + "': cannot load '" + spec.path + "': " + std::strerror(errno));
      const double cpu = spec.max_cpu_s > 0 ? spec.max_cpu_s : spec.timeout_s;
      args_ = {spec.name, spec.path, spec.options, std::to_string(cpu)};
      std::string err;
      if (!start(err))  // load errors now, as for isolation none
        throw PluginError(err.rfind("plugin '", 0) == 0 ? err : who_ + " (" + spec.path + "): " + err);
    } else {
      program_ = spec.path;
      args_ = spec.args;
      if (access(spec.path.c_str(), X_OK) != 0)
        throw PluginError("plugin '" + spec.name + "': '" + spec.path + "' is not an executable file");
    }
  }
  ~SupervisedProcess() { stop(false); }
  SupervisedProcess(const SupervisedProcess&) = delete;
  SupervisedProcess& operator=(const SupervisedProcess&) = delete;

  // False once the process has crashed more than max_restarts times: every later call is an error.
  bool usable() const { return !disabled_ && !(pid_ <= 0 && started_ > 0 && restarts_ >= spec_.max_restarts); }

  std::vector<RewardScore> score(const std::vector<RewardInput>& group) {
    const size_t n = group.size();
    std::vector<RewardScore> s(n);
    auto fail_all = [&](const std::string& why) {
      for (auto& x : s) x.error = why;
      return s;
    };
    auto fail_and_restart = [&](const std::string& why) {
      stop(true);
      return fail_all(who_ + ": " + why);
    };
    if (disabled_) return fail_all(who_ + " disabled after " + std::to_string(restarts_) + " restarts");
    if (pid_ <= 0) {
      if (started_ > 0) {
        if (restarts_ >= spec_.max_restarts) {
          disabled_ = true;
          return fail_all(who_ + " disabled after " + std::to_string(restarts_) + " restarts");
        }
        ++restarts_;
      }
      std::string err;
      if (!start(err)) {
        stop(true);
        return fail_all(who_ + ": " + err);
      }
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(spec_.timeout_s));
    // Output between replies (a debug print, a second reply line) would be read as the next batch's reply: refuse it.
    std::string why;
    if (!drain(why)) return fail_and_restart(why);
    if (!buf_.empty()) return fail_and_restart("wrote output outside a reply (" + excerpt(buf_) + ")");
    const uint64_t id = ++next_id_;
    json req;
    req["version"] = kSubprocessProtocolVersion;
    req["id"] = id;
    req["options"] = options_;
    json samples = json::array();
    for (const auto& g : group) samples.push_back(sample_to_json(g));
    req["samples"] = std::move(samples);
    const std::string line = req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    std::string reply;
    if (!write_all(line, deadline, why) || !read_line(reply, deadline, why)) return fail_and_restart(why);
    json r;
    try {
      r = json::parse(reply);
    } catch (const std::exception& e) {
      return fail_and_restart("reply is not JSON (" + excerpt(reply) + "): " + std::string(e.what()));
    }
    if (!r.is_object() || !r.contains("version") || r["version"] != kSubprocessProtocolVersion)
      return fail_and_restart("protocol version mismatch (reply version " +
                              (r.is_object() && r.contains("version") ? r["version"].dump() : std::string("missing")) +
                              ", expected " + std::to_string(kSubprocessProtocolVersion) + ")");
    if (!r.contains("id") || r["id"] != id)
      return fail_and_restart("reply id " + (r.contains("id") ? r["id"].dump() : std::string("missing")) +
                              " does not echo the request id " + std::to_string(id) +
                              " (protocol 2: exactly one reply line per request, with its id)");
    if (!buf_.empty()) return fail_and_restart("wrote more than one line for one request (" + excerpt(buf_) + ")");
    const json& res = r.contains("results") ? r["results"] : json();
    if (!res.is_array() || res.size() != n)
      return fail_all(who_ + ": expected " + std::to_string(n) + " results, got " +
                      (res.is_array() ? std::to_string(res.size()) : std::string("none")) +
                      (r.contains("error") ? " (" + r["error"].dump() + ")" : std::string()));
    for (size_t i = 0; i < n; ++i) s[i] = score_from_json(res[i]);
    return s;
  }

 private:
  static std::string excerpt(const std::string& t) {
    std::string e = t.substr(0, 80);
    for (char& c : e)
      if (c == '\n' || c == '\r') c = ' ';
    return "\"" + e + (t.size() > 80 ? "...\"" : "\"");
  }

  bool start(std::string& err) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      err = std::string("socketpair: ") + std::strerror(errno);
      return false;
    }
    std::vector<std::string> argv_s = {program_};
    argv_s.insert(argv_s.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const rlim_t mem = spec_.max_memory_mb > 0 && plugin_memory_limit_enforced() ? rlim_t(spec_.max_memory_mb) << 20
                                                                                  : RLIM_INFINITY;
    const pid_t pid = fork();
    if (pid < 0) {
      close(sv[0]);
      close(sv[1]);
      err = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    if (pid == 0) {  // async-signal-safe calls only until exec
      dup2(sv[1], 0);
      dup2(sv[1], 1);
      if (mem != RLIM_INFINITY) {
        rlimit rl{mem, mem};
        setrlimit(RLIMIT_AS, &rl);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(sv[1]);
    fd_ = sv[0];
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    pid_ = pid;
    ++started_;
    buf_.clear();
    if (!worker_) return true;
    // the worker says whether the library loaded: {"ready":true} or {"fatal":"..."}
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::max(10, int(spec_.timeout_s)));
    std::string line, why;
    if (!read_line(line, deadline, why)) {
      err = "the worker did not start: " + why;
      return false;
    }
    json h = json::parse(line, nullptr, false);
    if (h.is_object() && h.value("ready", false) && buf_.empty()) return true;
    err = h.is_object() && h.contains("fatal") && h["fatal"].is_string() ? h["fatal"].get<std::string>()
                                                                          : "unexpected first line from the worker (" + excerpt(line) + ")";
    return false;
  }

  // Ends the process: politely (close stdin, wait a little) or, after a failure, SIGKILL.
  void stop(bool kill_now) {
    buf_.clear();
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (pid_ > 0) {
      int status = 0;
      if (!kill_now) {
        for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(10000);
        if (waitpid(pid_, &status, WNOHANG) == 0) kill_now = true;
        else {
          pid_ = -1;
          return;
        }
      }
      if (kill_now) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
  }

  static int ms_left(std::chrono::steady_clock::time_point deadline) {
    const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    return d < 0 ? 0 : static_cast<int>(std::min<long long>(d, 1 << 30));
  }

  // How the process ended, with what the limits explain.
  std::string describe_exit(int status) const {
    if (!WIFSIGNALED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    const int sig = WTERMSIG(status);
    std::string s = "crashed (signal " + std::to_string(sig) + ")";
    if (sig == SIGXCPU && worker_)
      s += ": over its CPU limit of " + std::to_string(spec_.max_cpu_s > 0 ? spec_.max_cpu_s : spec_.timeout_s) +
           " s per call (max_cpu_s)";
    else if ((sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS) && spec_.max_memory_mb > 0)
      s += " (its address space is limited to max_memory_mb " + std::to_string(spec_.max_memory_mb) +
           " MiB: a failed allocation can end this way)";
    return s;
  }

  // The process's exit, if it has ended (waits a moment for the kernel to report it).
  std::string exit_reason() {
    for (int i = 0; i < 20 && pid_ > 0; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "plugin " + describe_exit(status);
      }
      usleep(5000);
    }
    return "plugin closed its output";
  }

  // Reads whatever the process has written without waiting (into buf_). False when it has ended.
  bool drain(std::string& why) {
    char tmp[65536];
    for (;;) {
      const ssize_t k = recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
      if (k > 0) {
        buf_.append(tmp, size_t(k));
        if (buf_.size() > (1u << 20)) return true;
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      why = exit_reason();
      return false;
    }
  }

  bool write_all(const std::string& data, std::chrono::steady_clock::time_point deadline, std::string& why) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t k = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (k > 0) {
        off += static_cast<size_t>(k);
        continue;
      }
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        const int left = ms_left(deadline);
        if (left == 0 || poll(&p, 1, left) == 0) {
          why = "timed out after " + std::to_string(spec_.timeout_s) + " s (writing the request)";
          return false;
        }
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      usleep(20000);
      why = exit_reason() + " (writing the request)";
      return false;
    }
    return true;
  }

  bool read_line(std::string& line, std::chrono::steady_clock::time_point deadline, std::string& why) {
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      pollfd p{fd_, POLLIN, 0};
      const int left = ms_left(deadline);
      const int pr = left == 0 ? 0 : poll(&p, 1, left);
      if (pr == 0) {
        why = "timed out after " + std::to_string(spec_.timeout_s) + " s";
        return false;
      }
      if (pr < 0) {
        if (errno == EINTR) continue;
        why = std::string("poll: ") + std::strerror(errno);
        return false;
      }
      char tmp[65536];
      const ssize_t k = recv(fd_, tmp, sizeof tmp, 0);
      if (k > 0) {
        buf_.append(tmp, static_cast<size_t>(k));
        if (buf_.size() > (256u << 20)) {
          why = "reply larger than 256 MB";
          return false;
        }
        continue;
      }
      if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      why = exit_reason();
      return false;
    }
  }

  PluginSpec spec_;
  bool worker_;
  std::string who_;
  json options_;
  std::string program_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int started_ = 0, restarts_ = 0;
  bool disabled_ = false;
  uint64_t next_id_ = 0;
  std::string buf_;
};

// The out-of-process plugin as a Reward: `workers` supervised processes (plugins[].workers), each with its own timeout,
// limits, restarts and max_restarts. A batch's groups are dealt round-robin over the processes still usable when the
// batch starts (group g to the (g mod U)-th) and each process scores its groups in order on its own thread; results go
// back to their group's slot. The plugin is pure, so the values never depend on the number of workers; the assignment
// depends only on the batch and on which processes are disabled, never on timing, so neither do the errors.
class SupervisedReward final : public Reward {
 public:
  SupervisedReward(const PluginSpec& spec, bool worker) {
    const int n = std::max(1, spec.workers);
    for (int k = 0; k < n; ++k) {
      std::string who = "plugin '" + spec.name + "'";
      if (n > 1) who += " (worker " + std::to_string(k + 1) + " of " + std::to_string(n) + ")";
      procs_.push_back(std::make_unique<SupervisedProcess>(spec, worker, std::move(who)));
    }
  }

  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    return first_usable().score(group);
  }

  std::vector<std::vector<RewardScore>> score_groups(std::span<const std::vector<RewardInput>> groups,
                                                     std::span<const GroupContext>) override {
    std::vector<SupervisedProcess*> usable;
    for (auto& p : procs_)
      if (p->usable()) usable.push_back(p.get());
    std::vector<std::vector<RewardScore>> out(groups.size());
    if (usable.size() <= 1 || groups.size() <= 1) {  // also: every process disabled (each call says so)
      SupervisedProcess& p = usable.empty() ? *procs_[0] : *usable[0];
      for (size_t g = 0; g < groups.size(); ++g) out[g] = p.score(groups[g]);
      return out;
    }
    const size_t U = std::min(usable.size(), groups.size());
    std::vector<std::exception_ptr> failed(U);
    auto run = [&](size_t w) {
      try {
        for (size_t g = w; g < groups.size(); g += U) out[g] = usable[w]->score(groups[g]);
      } catch (...) {
        failed[w] = std::current_exception();
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < U; ++w) threads.emplace_back(run, w);
    run(0);
    for (auto& t : threads) t.join();
    for (auto& e : failed)
      if (e) std::rethrow_exception(e);
    return out;
  }

 private:
  SupervisedProcess& first_usable() {
    for (auto& p : procs_)
      if (p->usable()) return *p;
    return *procs_[0];
  }

  std::vector<std::unique_ptr<SupervisedProcess>> procs_;
};

bool executable(const std::string& p) { return !p.empty() && access(p.c_str(), X_OK) == 0; }

}  // namespace

std::string reward_worker_path() {
  std::vector<std::string> tried;
  if (const char* env = std::getenv("REASONRL_REWARD_WORKER"); env && *env) {
    if (executable(env)) return env;
    throw PluginError(std::string("REASONRL_REWARD_WORKER is '") + env + "', which is not an executable file");
  }
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::string p = (self.parent_path() / "reasonrl-reward-worker").string();
    if (executable(p)) return p;
    tried.push_back(p);
  }
#ifdef REASONRL_REWARD_WORKER_BUILD_PATH
  if (executable(REASONRL_REWARD_WORKER_BUILD_PATH)) return REASONRL_REWARD_WORKER_BUILD_PATH;
  tried.push_back(REASONRL_REWARD_WORKER_BUILD_PATH);
#endif
  std::string t;
  for (const auto& x : tried) t += (t.empty() ? "" : ", ") + x;
  throw PluginError("cannot find reasonrl-reward-worker (the process that runs shared-library plugins; looked at " + t +
                    "): set REASONRL_REWARD_WORKER, or run the plugin in-process with isolation none (unsafe)");
}

std::unique_ptr<Reward> make_plugin_reward(const PluginSpec& spec) {
  spec.validate();
  if (spec.kind == PluginKind::SharedLibrary) {
    if (spec.isolation == PluginIsolation::None) return std::make_unique<InProcessLibraryReward>(spec);
    return std::make_unique<SupervisedReward>(spec, /*worker=*/true);
  }
  return std::make_unique<SupervisedReward>(spec, /*worker=*/false);
}

bool plugin_memory_limit_enforced() { return !kAddressSanitizer; }

}  // namespace reasonrl::rewards
