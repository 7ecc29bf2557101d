#!/usr/bin/env bash
# Builds the dashboard into src/Drover.Gateway/Dashboard/dist (committed; the gateway embeds it). Needs Node 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npx vite build
