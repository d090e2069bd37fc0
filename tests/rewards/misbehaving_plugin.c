/* misbehaving_plugin.c: a shared-library reward plugin (C ABI of rewards/plugin_abi.h) that misbehaves on request, for
 * the tests of the worker process (plugins[].isolation process) and of the trainer's handling of reward failures.
 * Score: the response's length in bytes (distinct per sample, so a shifted reply shows). Per sample, the meta JSON
 * text selects: "segv" (a write through NULL), "hang" (sleeps forever), "spin" (burns CPU forever), "hog" (allocates
 * and touches 64 MiB blocks, up to 3 GiB, and writes through the NULL a failed malloc returns, as a naive plugin would;
 * past 3 GiB it gives up and scores 1, so a missing limit fails the test without eating the machine), "nan" (scores
 * NaN), "print" (printf to stdout), "pid" (scores the id of the process that scored it: which worker of a pool).
 * Options (create): "flaky" = an error for every response of even length; "segv_always" = every call crashes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rewards/plugin_abi.h"

typedef struct {
  int flaky, segv_always;
} state_t;

uint32_t reasonrl_reward_abi_version(void) { return REASONRL_REWARD_ABI_VERSION; }

void* reasonrl_reward_create(const char* options_json, char* err, size_t err_len) {
  state_t* s = (state_t*)calloc(1, sizeof(state_t));
  if (!s) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  s->flaky = options_json && strstr(options_json, "\"flaky\"") != NULL;
  s->segv_always = options_json && strstr(options_json, "\"segv_always\"") != NULL;
  return s;
}

static void crash(void) {
  volatile int* p = NULL;
  *p = 1;
}

static int hog(void) {
  const size_t block = (size_t)64 << 20;
  for (size_t total = 0; total < ((size_t)3 << 30); total += block) {
    char* p = (char*)malloc(block);
    memset(p, 1, block); /* NULL when the address space is exhausted: SIGSEGV */
  }
  return 1;
}

int reasonrl_reward_score(void* state, const reasonrl_reward_sample* samples, size_t n, reasonrl_reward_result* results) {
  const state_t* s = (const state_t*)state;
  if (s->segv_always) crash();
  for (size_t i = 0; i < n; ++i) {
    const char* meta = samples[i].meta_json;
    results[i].correct = -1;
    results[i].error[0] = '\0';
    results[i].status = REASONRL_REWARD_OK;
    results[i].score = (double)strlen(samples[i].response);
    if (strstr(meta, "\"segv\"")) crash();
    if (strstr(meta, "\"hang\""))
      for (;;) sleep(1000);
    if (strstr(meta, "\"spin\"")) {
      volatile unsigned long x = 0;
      for (;;) ++x;
    }
    if (strstr(meta, "\"hog\"")) results[i].score = hog();
    if (strstr(meta, "\"nan\"")) results[i].score = NAN;
    if (strstr(meta, "\"pid\"")) results[i].score = (double)getpid();
    if (strstr(meta, "\"print\"")) {
      printf("debug output from the plugin\n");
      fflush(stdout);
    }
    if (s->flaky && strlen(samples[i].response) % 2 == 0) {
      results[i].status = REASONRL_REWARD_ERROR;
      snprintf(results[i].error, sizeof results[i].error, "flaky: even length %zu", strlen(samples[i].response));
    }
  }
  return 0;
}

void reasonrl_reward_destroy(void* state) { free(state); }
