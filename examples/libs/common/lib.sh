# Shared shell library of the demo services (the "common lib" every monorepo has).
log() { echo "$(date -u +%H:%M:%S) [${SERVICE:-demo}] $*"; }
