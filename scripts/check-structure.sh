#!/usr/bin/env bash
# Fails on an import loop between modules of the collector or the agent, or on a .rs file of
# either over 1,000 lines (scripts/check_structure.py says how modules and edges are read).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check_structure_test.py
python3 scripts/check_structure.py --max-lines 1000 collector agent
