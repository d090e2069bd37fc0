/* example_plugin.c: an example reward plugin for the C ABI of rewards/plugin_abi.h.
 * Reward: 1.0 if the response contains a keyword (options {"keyword": "..."}; default "therefore"), else 0.0;
 * not applicable for an empty response. Build: see rewards/examples/CMakeLists.txt (a MODULE library), then
 *   {"rewards": ["keyword"], "plugins": [{"name": "keyword", "kind": "shared_library",
 *                                         "path": "build/rewards/examples/libreasonrl_example_plugin.so",
 *                                         "options": "{\"keyword\": \"therefore\"}"}]}
 * The test build also compiles it with EXAMPLE_ABI_VERSION=99 and with EXAMPLE_OMIT_SCORE to check the host's errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewards/plugin_abi.h"

#ifndef EXAMPLE_ABI_VERSION
#define EXAMPLE_ABI_VERSION REASONRL_REWARD_ABI_VERSION
#endif

typedef struct {
  char keyword[128];
} example_state;

uint32_t reasonrl_reward_abi_version(void) { return EXAMPLE_ABI_VERSION; }

void* reasonrl_reward_create(const char* options_json, char* err, size_t err_len) {
  example_state* s = (example_state*)calloc(1, sizeof(example_state));
  if (!s) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  strcpy(s->keyword, "therefore");
  /* minimal reading of {"keyword": "..."} without a JSON library */
  const char* k = options_json ? strstr(options_json, "\"keyword\"") : NULL;
  if (k) {
    const char* q = strchr(k + 9, '"');
    const char* e = q ? strchr(q + 1, '"') : NULL;
    if (!q || !e || (size_t)(e - q - 1) >= sizeof s->keyword) {
      snprintf(err, err_len, "option 'keyword' must be a string shorter than %zu bytes", sizeof s->keyword);
      free(s);
      return NULL;
    }
    memcpy(s->keyword, q + 1, (size_t)(e - q - 1));
    s->keyword[e - q - 1] = '\0';
  }
  return s;
}

#ifndef EXAMPLE_OMIT_SCORE
int reasonrl_reward_score(void* state, const reasonrl_reward_sample* samples, size_t n, reasonrl_reward_result* results) {
  const example_state* s = (const example_state*)state;
  for (size_t i = 0; i < n; ++i) {
    results[i].correct = -1;
    results[i].error[0] = '\0';
    if (!samples[i].response || !samples[i].response[0]) {
      results[i].status = REASONRL_REWARD_NOT_APPLICABLE;
      results[i].score = 0.0;
      continue;
    }
    if (strstr(samples[i].meta_json, "\"fail\"")) {
      results[i].status = REASONRL_REWARD_ERROR;
      snprintf(results[i].error, sizeof results[i].error, "sample asked to fail");
      continue;
    }
    results[i].status = REASONRL_REWARD_OK;
    results[i].score = strstr(samples[i].response, s->keyword) ? 1.0 : 0.0;
  }
  return 0;
}
#endif

void reasonrl_reward_destroy(void* state) { free(state); }
