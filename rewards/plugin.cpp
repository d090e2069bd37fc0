// plugin.cpp: reward plugins: shared libraries through the C ABI of plugin_abi.h (dlopen), and subprocesses speaking
// JSON lines (socketpair, per-call deadline, kill + restart after a crash or a hang, errors recorded per sample).
#include "rewards/plugin.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "rewards/plugin_abi.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {

namespace {

using json = nlohmann::ordered_json;

// ---- shared library ---------------------------------------------------------------------------

class SharedLibraryReward final : public Reward {
 public:
  explicit SharedLibraryReward(const PluginSpec& spec) : name_(spec.name) {
    handle_ = dlopen(spec.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw PluginError("plugin '" + name_ + "': cannot load '" + spec.path + "': " + dlerror());
    auto sym = [&](const char* s) {
      dlerror();
      void* p = dlsym(handle_, s);
      if (!p) {
        const std::string msg = "plugin '" + name_ + "' (" + spec.path + "): missing symbol '" + s +
                                "' (see rewards/plugin_abi.h)";
        dlclose(handle_);
        handle_ = nullptr;
        throw PluginError(msg);
      }
      return p;
    };
    auto version = reinterpret_cast<reasonrl_reward_abi_version_fn>(sym("reasonrl_reward_abi_version"));
    create_ = reinterpret_cast<reasonrl_reward_create_fn>(sym("reasonrl_reward_create"));
    score_ = reinterpret_cast<reasonrl_reward_score_fn>(sym("reasonrl_reward_score"));
    destroy_ = reinterpret_cast<reasonrl_reward_destroy_fn>(sym("reasonrl_reward_destroy"));
    const uint32_t v = version();
    if (v != REASONRL_REWARD_ABI_VERSION) {
      dlclose(handle_);
      handle_ = nullptr;
      throw PluginError("plugin '" + name_ + "' (" + spec.path + ") was built for reward ABI version " + std::to_string(v) +
                        "; this build speaks version " + std::to_string(REASONRL_REWARD_ABI_VERSION));
    }
    char err[512] = {0};
    state_ = create_(spec.options.c_str(), err, sizeof err);
    if (!state_) {
      dlclose(handle_);
      handle_ = nullptr;
      throw PluginError("plugin '" + name_ + "': create failed: " + std::string(err[0] ? err : "(no message)"));
    }
  }
  ~SharedLibraryReward() override {
    if (handle_) {
      if (state_) destroy_(state_);
      dlclose(handle_);
    }
  }

  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    const size_t n = group.size();
    std::vector<std::string> metas(n);
    std::vector<reasonrl_reward_sample> in(n);
    std::vector<reasonrl_reward_result> out(n);
    for (size_t i = 0; i < n; ++i) {
      const auto& g = group[i];
      metas[i] = g.meta.is_null() ? "{}" : g.meta.dump();
      in[i] = {g.prompt.c_str(), g.response.c_str(), g.gold.c_str(), g.task.c_str(), metas[i].c_str(),
               g.finish_reason.c_str(), g.response_tokens, g.max_response_tokens};
      out[i].score = 0;
      out[i].status = REASONRL_REWARD_ERROR;
      out[i].correct = -1;
      std::strcpy(out[i].error, "plugin did not set a result");
    }
    const int rc = score_(state_, in.data(), n, out.data());
    std::vector<RewardScore> s(n);
    for (size_t i = 0; i < n; ++i) {
      if (rc != 0) {
        s[i].error = "plugin returned " + std::to_string(rc) + " for the batch";
        continue;
      }
      out[i].error[sizeof out[i].error - 1] = '\0';
      switch (out[i].status) {
        case REASONRL_REWARD_OK: s[i].value = out[i].score; break;
        case REASONRL_REWARD_NOT_APPLICABLE: break;
        default: s[i].error = out[i].error[0] ? out[i].error : "plugin error"; break;
      }
      if (out[i].correct == 0 || out[i].correct == 1) s[i].correct = out[i].correct == 1;
    }
    return s;
  }

 private:
  std::string name_;
  void* handle_ = nullptr;
  void* state_ = nullptr;
  reasonrl_reward_create_fn create_ = nullptr;
  reasonrl_reward_score_fn score_ = nullptr;
  reasonrl_reward_destroy_fn destroy_ = nullptr;
};

// ---- subprocess -------------------------------------------------------------------------------

class SubprocessReward final : public Reward {
 public:
  explicit SubprocessReward(const PluginSpec& spec) : spec_(spec), options_(json::parse(spec.options)) {
    if (access(spec.path.c_str(), X_OK) != 0)
      throw PluginError("plugin '" + spec.name + "': '" + spec.path + "' is not an executable file");
  }
  ~SubprocessReward() override { stop(false); }

  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    const size_t n = group.size();
    std::vector<RewardScore> s(n);
    auto fail_all = [&](const std::string& why) {
      for (auto& x : s) x.error = why;
      return s;
    };
    if (disabled_) return fail_all("plugin '" + spec_.name + "' disabled after " + std::to_string(restarts_) + " restarts");
    if (pid_ <= 0) {
      if (started_ > 0) {
        if (restarts_ >= spec_.max_restarts) {
          disabled_ = true;
          return fail_all("plugin '" + spec_.name + "' disabled after " + std::to_string(restarts_) + " restarts");
        }
        ++restarts_;
      }
      std::string err;
      if (!start(err)) return fail_all(err);
    }
    json req;
    req["version"] = kSubprocessProtocolVersion;
    req["options"] = options_;
    json samples = json::array();
    for (const auto& g : group) {
      json x;
      x["prompt"] = g.prompt;
      x["response"] = g.response;
      x["gold"] = g.gold;
      x["task"] = g.task;
      x["meta"] = g.meta.is_null() ? json::object() : g.meta;
      x["response_tokens"] = g.response_tokens;
      x["max_response_tokens"] = g.max_response_tokens;
      x["finish_reason"] = g.finish_reason;
      samples.push_back(std::move(x));
    }
    req["samples"] = std::move(samples);
    const std::string line = req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(spec_.timeout_s));
    std::string reply, why;
    if (!write_all(line, deadline, why) || !read_line(reply, deadline, why)) {
      stop(true);
      return fail_all("plugin '" + spec_.name + "': " + why);
    }
    json r;
    try {
      r = json::parse(reply);
    } catch (const std::exception& e) {
      stop(true);
      return fail_all("plugin '" + spec_.name + "': reply is not JSON: " + std::string(e.what()));
    }
    if (!r.is_object() || !r.contains("version") || r["version"] != kSubprocessProtocolVersion) {
      stop(true);
      return fail_all("plugin '" + spec_.name + "': protocol version mismatch (reply version " +
                      (r.is_object() && r.contains("version") ? r["version"].dump() : std::string("missing")) +
                      ", expected " + std::to_string(kSubprocessProtocolVersion) + ")");
    }
    const json& res = r.contains("results") ? r["results"] : json();
    if (!res.is_array() || res.size() != n)
      return fail_all("plugin '" + spec_.name + "': expected " + std::to_string(n) + " results, got " +
                      (res.is_array() ? std::to_string(res.size()) : std::string("none")));
    for (size_t i = 0; i < n; ++i) {
      const json& x = res[i];
      if (!x.is_object()) {
        s[i].error = "result is not an object";
        continue;
      }
      if (x.contains("error") && !x["error"].is_null()) {
        s[i].error = x["error"].is_string() ? x["error"].get<std::string>() : x["error"].dump();
        continue;
      }
      if (x.contains("score") && x["score"].is_number()) s[i].value = x["score"].get<double>();
      else if (!(x.contains("score") && x["score"].is_null())) s[i].error = "result has no numeric 'score'";
      if (x.contains("correct") && x["correct"].is_boolean()) s[i].correct = x["correct"].get<bool>();
    }
    return s;
  }

 private:
  bool start(std::string& err) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      err = std::string("socketpair: ") + std::strerror(errno);
      return false;
    }
    std::vector<std::string> argv_s = {spec_.path};
    argv_s.insert(argv_s.end(), spec_.args.begin(), spec_.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      close(sv[0]);
      close(sv[1]);
      err = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    if (pid == 0) {
      dup2(sv[1], 0);
      dup2(sv[1], 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(sv[1]);
    fd_ = sv[0];
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    pid_ = pid;
    ++started_;
    buf_.clear();
    return true;
  }

  // Ends the process: politely (close stdin, wait a little) or, after a failure, SIGKILL.
  void stop(bool kill_now) {
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

  std::string exit_reason() {
    int status = 0;
    const pid_t w = waitpid(pid_, &status, WNOHANG);
    if (w == pid_) {
      pid_ = -1;
      if (WIFSIGNALED(status)) return "crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
      return "exited with status " + std::to_string(WEXITSTATUS(status));
    }
    return "closed its output";
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
      why = "plugin " + exit_reason() + " (writing the request)";
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
      for (int i = 0; i < 20 && pid_ > 0; ++i) {  // give the kernel a moment to report the exit
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          why = WIFSIGNALED(status) ? "plugin crashed (signal " + std::to_string(WTERMSIG(status)) + ")"
                                    : "plugin exited with status " + std::to_string(WEXITSTATUS(status));
          return false;
        }
        usleep(5000);
      }
      why = "plugin closed its output";
      return false;
    }
  }

  PluginSpec spec_;
  json options_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int started_ = 0, restarts_ = 0;
  bool disabled_ = false;
  std::string buf_;
};

}  // namespace

std::unique_ptr<Reward> make_plugin_reward(const PluginSpec& spec) {
  spec.validate();
  if (spec.kind == PluginKind::SharedLibrary) return std::make_unique<SharedLibraryReward>(spec);
  return std::make_unique<SubprocessReward>(spec);
}

}  // namespace reasonrl::rewards
