// rng.cpp: xoshiro256** (Blackman and Vigna) seeded through splitmix64.
#include "rl/util/rng.h"

#include <cmath>

#include "rl/util/error.h"

namespace reasonrl {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& v : s_) v = splitmix64(x);
  has_spare_ = false;
}

uint64_t Rng::derive_seed(uint64_t seed, uint64_t stream, uint64_t sub) {
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  splitmix64(x);
  x ^= sub * 0xabc98388fb8fac03ULL;
  return splitmix64(x);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform_f() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }
double Rng::uniform() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

uint64_t Rng::below(uint64_t n) {
  // Lemire's nearly-divisionless method with rejection.
  __uint128_t m = __uint128_t(next_u64()) * n;
  uint64_t l = uint64_t(m);
  if (l < n) {
    const uint64_t t = (0 - n) % n;
    while (l < t) {
      m = __uint128_t(next_u64()) * n;
      l = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1;
  do u1 = uniform(); while (u1 <= 0.0);
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

nlohmann::ordered_json Rng::to_json() const {
  nlohmann::ordered_json j;
  j["s"] = {std::to_string(s_[0]), std::to_string(s_[1]), std::to_string(s_[2]), std::to_string(s_[3])};
  j["has_spare"] = has_spare_;
  j["spare"] = spare_;
  return j;
}

void Rng::from_json(const nlohmann::ordered_json& j) {
  try {
    for (int i = 0; i < 4; ++i) s_[i] = std::stoull(j.at("s").at(i).get<std::string>());
    has_spare_ = j.at("has_spare").get<bool>();
    spare_ = j.at("spare").get<double>();
  } catch (const std::exception& e) {
    throw FormatError(std::string("bad RNG state: ") + e.what());
  }
}

}  // namespace reasonrl
