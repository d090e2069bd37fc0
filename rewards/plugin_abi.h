/* plugin_abi.h: the versioned C ABI of reward plugins loaded with dlopen (a shared library that scores a batch).
 *
 * A plugin exports four functions with C linkage:
 *   uint32_t reasonrl_reward_abi_version(void);            must return REASONRL_REWARD_ABI_VERSION it was built with
 *   void*    reasonrl_reward_create(const char* options_json, char* err, size_t err_len);
 *                                                           returns a state (NULL = failure, message in err)
 *   int      reasonrl_reward_score(void* state, const reasonrl_reward_sample* samples, size_t n,
 *                                  reasonrl_reward_result* results);
 *                                                           fills results[0..n); returns 0, or non-zero if the whole
 *                                                           batch failed (then every sample is recorded as an error)
 *   void     reasonrl_reward_destroy(void* state);
 * Strings are UTF-8 and NUL-terminated; they belong to the caller and are valid only during the call.
 * The host loads the library, checks the version (mismatch = error naming both versions), calls create once, score
 * per batch (from one thread at a time), destroy at the end. See rewards/examples/example_plugin.c.
 */
#ifndef REASONRL_REWARDS_PLUGIN_ABI_H
#define REASONRL_REWARDS_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REASONRL_REWARD_ABI_VERSION 1u

typedef struct reasonrl_reward_sample {
  const char* prompt;
  const char* response;
  const char* gold;
  const char* task;
  const char* meta_json;          /* JSON object text, "{}" when empty */
  const char* finish_reason;
  int32_t response_tokens;        /* -1 = unknown */
  int32_t max_response_tokens;    /* 0 = unknown */
} reasonrl_reward_sample;

enum reasonrl_reward_status {
  REASONRL_REWARD_OK = 0,         /* score is valid */
  REASONRL_REWARD_NOT_APPLICABLE = 1, /* no score for this sample (left out of the weighting) */
  REASONRL_REWARD_ERROR = 2       /* failed; message in error */
};

typedef struct reasonrl_reward_result {
  double score;
  int32_t status;                 /* enum reasonrl_reward_status */
  int32_t correct;                /* -1 = no verdict, 0 = wrong, 1 = correct */
  char error[256];                /* NUL-terminated message when status == REASONRL_REWARD_ERROR */
} reasonrl_reward_result;

typedef uint32_t (*reasonrl_reward_abi_version_fn)(void);
typedef void* (*reasonrl_reward_create_fn)(const char* options_json, char* err, size_t err_len);
typedef int (*reasonrl_reward_score_fn)(void* state, const reasonrl_reward_sample* samples, size_t n,
                                        reasonrl_reward_result* results);
typedef void (*reasonrl_reward_destroy_fn)(void* state);

#ifdef __cplusplus
}
#endif

#endif /* REASONRL_REWARDS_PLUGIN_ABI_H */
