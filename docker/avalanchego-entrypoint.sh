#!/bin/sh
# The avalanchego image's entrypoint: the node asks for 32768 open files and
# refuses to start where the container's hard limit is lower, a limit only
# the container knows; unless AVAGO_FD_LIMIT is given, ask for at most the
# hard limit. Every other flag comes from the environment (AVAGO_<FLAG>).
set -eu
if [ -z "${AVAGO_FD_LIMIT:-}" ]; then
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -gt 32768 ]; then
        hard=32768
    fi
    AVAGO_FD_LIMIT=$hard
    export AVAGO_FD_LIMIT
fi
exec /usr/local/bin/avalanchego "$@"
