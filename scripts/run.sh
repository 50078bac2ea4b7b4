#!/usr/bin/env bash
# `make run`: the database (private cluster by default), then the service.
set -euo pipefail
source "$(dirname "$0")/env.sh"
url="$(bash "$ROOT/scripts/database.sh" | tail -n 1)"
cat <<EOT
psqlqueue is ready in $url
  connect:  psql '$url'
  try:      SELECT * FROM psqlqueue.create_queue('my-new-queue', 30, 1209600, 0);
  stop:     make stop   (the private cluster keeps its data under .psqlqueue/)
EOT
