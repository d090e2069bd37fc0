// rl.h: one include for the RL algorithms (config, advantages, KL, loss aggregation, losses, entropy bonus, rollout
// correction masks, dynamic sampling).
#pragma once
#include "rl/core/advantages.h"
#include "rl/core/dynamic_sampling.h"
#include "rl/core/entropy_bonus.h"
#include "rl/core/kimi_loss.h"
#include "rl/core/kl.h"
#include "rl/core/loss_aggregation.h"
#include "rl/core/policy_loss.h"
#include "rl/core/rl_config.h"
#include "rl/core/rollout_correction.h"
