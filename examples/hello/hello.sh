#!/usr/bin/env bash
# The sample app of examples/project.yaml: a tiny web server (python3 -m http.server) on
# 127.0.0.1:$APP_PORT serving this release's public/ directory; public/version says which
# release answers. `make hosts` runs every sandbox host with its own APP_PORT in the environment
# (8101, 8102, ...); elsewhere it is 8080. The deploy script runs it from the release directory
# with FABU_VERSION and FABU_RELEASE_DIR set (docs/host.md).
#
#   hello.sh start    start the server of this release in the background
#   hello.sh stop     stop the server, whichever release started it
#   hello.sh health   succeed once the server answers /version with $FABU_VERSION
set -euo pipefail

port=${APP_PORT:-8080}
release=${FABU_RELEASE_DIR:-$PWD}
state=$release/../..            # the project's directory on the host, beside releases/
pidfile=$state/hello.pid

running_pid() {
    local pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    # only our server: a pid from before a reboot may belong to anything by now
    [[ $pid =~ ^[0-9]+$ ]] && ps -o args= -p "$pid" 2>/dev/null | grep -q "http.server $port" || return 1
    printf '%s' "$pid"
}

stop() {
    local pid i
    if ! pid=$(running_pid); then
        rm -f -- "$pidfile"
        echo "hello: not running"
        return 0
    fi
    kill "$pid"
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
    fi
    rm -f -- "$pidfile"
    echo "hello: stopped (pid $pid)"
}

start() {
    stop >/dev/null
    printf '%s\n' "${FABU_VERSION:?FABU_VERSION is not set}" >"$release/public/version"
    nohup python3 -m http.server "$port" --bind 127.0.0.1 --directory "$release/public" \
        >"$state/hello.log" 2>&1 </dev/null &
    local pid=$! i
    printf '%s\n' "$pid" >"$pidfile"
    # up to 5 s for it to listen, so health passes at its first try; a server that cannot
    # start (the port is taken) fails the start with its own words, not health 30 s later
    for ((i = 0; i < 50; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f -- "$pidfile"
            echo "hello: the server on port $port exited at start: $(tail -n 1 "$state/hello.log")" >&2
            return 1
        fi
        curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/version" 2>/dev/null && break
        sleep 0.1
    done
    echo "hello $FABU_VERSION: started on http://127.0.0.1:$port/ (pid $pid, log $state/hello.log)"
}

health() {
    local got
    if ! got=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/version" 2>&1); then
        echo "hello: nothing answers on port $port yet ($got)" >&2
        return 1
    fi
    if [[ $got != "$FABU_VERSION" ]]; then
        echo "hello: port $port answers version '$got', not $FABU_VERSION" >&2
        return 1
    fi
    echo "hello $FABU_VERSION answers on http://127.0.0.1:$port/"
}

case ${1:-} in
    start | stop | health) "$1" ;;
    *)
        echo "usage: hello.sh start|stop|health" >&2
        exit 2
        ;;
esac
