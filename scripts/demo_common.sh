# demo_common.sh: sourced by the demo scripts (from the repository root): install what is missing, build the binary
# in Release without the tests, and move an earlier run of the demo aside so it is neither reused nor overwritten.
demo_prepare() {  # $1 = the directory the demo writes (e.g. runs/demo)
  bash scripts/install-deps.sh
  bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DREASONRL_BUILD_TESTS=OFF
  if [[ -e "$1" ]]; then
    local old
    old="$1.$(date +%Y%m%d-%H%M%S)"
    mv "$1" "$old"
    echo "$(basename "$0" .sh): the previous $1 is now $old"
  fi
}
