// Tests for rl/util/utf8.h: the well-formedness check, U+FFFD replacement and \xNN escaping, pinned against Python's
// bytes.decode("utf-8", "replace") (the Unicode recommended practice: one U+FFFD per maximal ill-formed subsequence).
#include "rl/util/utf8.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace reasonrl {
namespace {

namespace fs = std::filesystem;

std::string hex(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o += kHex[c >> 4];
    o += kHex[c & 15];
  }
  return o;
}

std::string unhex(const std::string& h) {
  std::string o;
  for (size_t i = 0; i + 1 < h.size(); i += 2) o += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return o;
}

// Byte strings that cover the cases: truncated sequences, lone continuation bytes, overlong forms, surrogates, code
// points past U+10FFFF, C0/C1/F5..FF lead bytes, and random bytes mixed with valid characters.
std::vector<std::string> cases() {
  std::vector<std::string> v = {
      "", "plain ascii", "caf\xC3\xA9", "\xE2\x82\xAC and \xF0\x9F\x98\x80", "\xC3", "ab\xE2\x82", "\xF0\x9F\x98",
      "\x80", "\x80\x80\xBF", "\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF",
      "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF\xFE", "\xC1\xBF", "\xE0\x9F\x80", "\xF8\x88\x80\x80\x80",
      "back\\slash \\x41", std::string("nul\0byte", 8), "\xE2\x28\xA1", "\xF0\x28\x8C\x28", "x\xC3\x28y"};
  std::mt19937 rng(20261204);
  const std::vector<std::string> pieces = {"a", "\\", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\n"};
  for (int n = 0; n < 400; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 24);
    for (int k = 0; k < len; ++k) {
      if (rng() % 3 == 0) s += static_cast<char>(rng() % 256);
      else s += pieces[rng() % pieces.size()];
    }
    v.push_back(s);
  }
  return v;
}

TEST(Utf8, ReplacementAndValidityMatchPythonsDecoder) {
  const auto v = cases();
  const fs::path dir = fs::temp_directory_path() / ("reasonrl_utf8_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "in.txt");
    for (const auto& s : v) f << hex(s) << "\n";
  }
  const std::string py = std::string(REASONRL_PYTHON).empty() ? "/usr/bin/python3" : REASONRL_PYTHON;
  const std::string cmd = py + " -c \"import sys\n"
                               "for l in open(sys.argv[1]):\n"
                               "    b = bytes.fromhex(l.strip())\n"
                               "    try:\n"
                               "        b.decode('utf-8'); ok = 1\n"
                               "    except UnicodeDecodeError:\n"
                               "        ok = 0\n"
                               "    print(ok, b.decode('utf-8', 'replace').encode('utf-8').hex())\" " +
                          (dir / "in.txt").string() + " > " + (dir / "out.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(dir / "out.txt");
  std::string line;
  size_t i = 0, n_invalid = 0;
  while (std::getline(f, line)) {
    ASSERT_LT(i, v.size());
    std::istringstream is(line);
    int ok = 0;
    std::string h;
    is >> ok >> h;
    EXPECT_EQ(utf8_valid(v[i]), ok == 1) << "case " << i << ": " << hex(v[i]);
    EXPECT_EQ(hex(utf8_replace_invalid(v[i])), h) << "case " << i << ": " << hex(v[i]);
    EXPECT_TRUE(utf8_valid(utf8_replace_invalid(v[i])));
    n_invalid += ok == 0;
    ++i;
  }
  EXPECT_EQ(i, v.size());
  EXPECT_GT(n_invalid, 100u);  // the random cases exercise the replacement
  fs::remove_all(dir);
}

// The escaped form is valid UTF-8 and gives back the exact bytes: \\ is a backslash, \xNN one byte.
std::string unescape(const std::string& e) {
  std::string o;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] != '\\') {
      o += e[i];
      continue;
    }
    if (e[i + 1] == '\\') {
      o += '\\';
      ++i;
    } else {
      EXPECT_EQ(e[i + 1], 'x') << e;
      o += unhex(e.substr(i + 2, 2));
      i += 3;
    }
  }
  return o;
}

TEST(Utf8, EscapedFormIsValidAndRoundTrips) {
  for (const auto& s : cases()) {
    const std::string e = utf8_escape_invalid(s);
    EXPECT_TRUE(utf8_valid(e)) << hex(s);
    EXPECT_EQ(unescape(e), s) << hex(s);
  }
  EXPECT_EQ(utf8_escape_invalid("a\xC3 \\ \xC3\xA9\xFF"), "a\\xc3 \\\\ \xC3\xA9\\xff");
}

}  // namespace
}  // namespace reasonrl
