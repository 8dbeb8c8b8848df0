#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The two Quick start commands (see README.md):
#   ./dev.sh demo   set everything up and start the demo behind sekimori
#   ./dev.sh test   set everything up and run every test (what CI runs)
set -euo pipefail
top="$(cd "$(dirname "$0")" && pwd)"
cd "$top"

case "${1:-}" in
  test)
    shift
    exec scripts/test-all "$@"
    ;;
  demo)
    shift
    exec scripts/demo "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo|test" >&2
    exit 2
    ;;
esac
