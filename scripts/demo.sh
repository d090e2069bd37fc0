#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the demo training.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
./build/reasonrl demo "$@"
