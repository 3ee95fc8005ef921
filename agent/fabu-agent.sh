#!/usr/bin/env bash
# fabu-agent.sh: the fabu cron agent. Runs on every host from cron, e.g.
#
#   */5 * * * * deploy /opt/fabu/bin/fabu-agent.sh
#
# One run = one signed poll of GET $FABU_API_URL/api/v1/$FABU_HOST?current=<project>:<version>,...
# (what each project's `current` release is here; 200: a deploy is pending or draining, 204:
# nothing to do) and, when something is pending, one download of the generated deploy script to
# a file, a completeness check, and one run of it with bash. Never `curl | bash`. A host whose
# deploy waits for its connections to drain prints one line per project and exits 0; the deploy
# follows on a later run.
# A deploy script that died mid-deploy (host rebooted, killed) leaves an in-flight marker; the
# API then still holds that deploy in progress and answers 204, so the next run fetches the
# script anyway: the script reports the interrupted deploy before anything else.
#
# Configuration: the environment, then /etc/fabu/agent.env (or $FABU_AGENT_ENV) when present, whose
# values win. That file is data, never sourced: KEY=VALUE lines of the keys below, '#' comments
# and blank lines; a value bare or in matching '…' or "…" quotes and taken literally (nothing
# expands, nothing runs); an unknown key or a malformed line is an error naming its line (exit 2).
# FABU_API_URL (https://, or http:// only to 127.0.0.0/8, ::1, localhost or *.localhost), FABU_REGION
# (required), FABU_HOST (default: hostname -f), AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
# AWS_SESSION_TOKEN) or, without them, the EC2 instance role through IMDSv2 ($FABU_IMDS_URL,
# default http://169.254.169.254), FABU_ROOT (default /opt/fabu), FABU_INTERVAL (seconds between
# two cron runs, default 300: what the cron line runs at), FABU_SPLAY (max seconds of deterministic
# per-host delay, default 80% of FABU_INTERVAL; 0 turns it off, and a run from a terminal skips
# it), FABU_SIGV4_SERVICE (lambda or execute-api; default from FABU_API_URL: lambda for a Lambda
# Function URL, *.lambda-url.<region>.on.aws, execute-api otherwise), FABU_KILL_GRACE (seconds
# from TERM to KILL of a user script out of time, default 10), HTTPS_PROXY/https_proxy,
# NO_PROXY/no_proxy, CURL_CA_BUNDLE.
#
# Exit codes: 0 nothing pending, deployed, or another run holds the lock; 1 a user script or
# check failed in the deploy script; 2 an environment/configuration error (or a platform error
# in the deploy script); 3 the API refused or failed (auth, HTTP error, incomplete script).
#
# Everything is in one { } group whose last command calls main: a truncated copy runs nothing.
{
set -euo pipefail

FABU_SCRIPT_END='# fabu-script-end'

say() {
    printf 'fabu-agent: %s\n' "$*"
}

err() {
    printf 'fabu-agent: error: %s\n' "$*" >&2
    exit 2
}

# An error talking to the API (exit 3), so monitoring can tell it from a broken host.
api_err() {
    printf 'fabu-agent: error: %s\n' "$*" >&2
    exit 3
}

need_cmd() {
    if ! command -v "$1" >/dev/null 2>&1; then
        err "need '$1' (command not found)"
    fi
}

ensure() {
    if ! "$@"; then
        err "command failed: $*"
    fi
}

# The keys agent.env may set.
CONFIG_KEYS=(FABU_API_URL FABU_REGION FABU_HOST FABU_ROOT FABU_SPLAY FABU_INTERVAL
    FABU_SIGV4_SERVICE FABU_IMDS_URL FABU_KILL_GRACE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTPS_PROXY https_proxy NO_PROXY
    no_proxy CURL_CA_BUNDLE)
# The longest agent.env read (lines).
CONFIG_MAX_LINES=1000
# The longest ?current= value (characters before encoding: the API's limit), the most project
# directories read for it, and the API's patterns of a project name and a version.
CURRENT_MAX_CHARS=2000 CURRENT_MAX_PROJECTS=500
PROJECT_PATTERN='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' VERSION_PATTERN='^[A-Za-z0-9][A-Za-z0-9.+~:-]{0,127}$'

# read_config FILE: set and export the KEY=VALUE lines of FILE, read as data. A value means what
# it would mean to a shell reading the file, minus anything that would expand or run there: a
# bare value is plain characters only, "…" holds no $ ` or \, '…' anything but '.
read_config() {
    local file=$1 line key value known n=0
    local assignment='^(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$'
    local bare='^[A-Za-z0-9_./:@%+,=-]*$' single="^'([^']*)'\$" double='^"([^"$`\\]*)"$'
    if [[ ! -r $file ]]; then
        err "cannot read $file"
    fi
    if [[ $(stat -L -c %a -- "$file") == *[2367] ]]; then
        err "$file is writable by every user: anyone could point this host elsewhere (chmod o-w it; 0640 root:deploy when it holds keys)"
    fi
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        if ((n > CONFIG_MAX_LINES)); then
            err "$file: more than $CONFIG_MAX_LINES lines; this is not an agent.env"
        fi
        line=${line%$'\r'}
        line=${line#"${line%%[![:space:]]*}"}     # leading and trailing blanks
        line=${line%"${line##*[![:space:]]}"}
        if [[ -z $line || $line == '#'* ]]; then
            continue
        fi
        if ! [[ $line =~ $assignment ]]; then
            err "$file line $n: not KEY=VALUE (nothing is run from this file: it is data)"
        fi
        key=${BASH_REMATCH[2]} value=${BASH_REMATCH[3]}
        for known in "${CONFIG_KEYS[@]}" ""; do
            [[ $known != "$key" ]] || break
        done
        if [[ -z $known ]]; then
            err "$file line $n: unknown key $key (known: ${CONFIG_KEYS[*]})"
        fi
        if [[ $value =~ $single || $value =~ $double ]]; then
            value=${BASH_REMATCH[1]}
        elif ! [[ $value =~ $bare ]]; then
            err "$file line $n: the value of $key holds spaces, quotes or shell characters: put it in single quotes, '…' (taken literally; nothing in agent.env expands or runs)"
        fi
        printf -v "$key" '%s' "$value"
        export "${key?}"
    done <"$file"
}

# The longest cron interval (a day) and the default one (*/5 in the cron line).
INTERVAL_MAX=86400 INTERVAL_DEFAULT=300
# A Lambda Function URL's host (the local stack's stand-in ends in .localhost).
FUNCTION_URL_HOST='^[a-z0-9-]+\.lambda-url\.[a-z0-9-]+\.(on\.aws|localhost)$'

# FABU_API_URL carries signed requests: https://, or http:// only to this machine.
check_api_url() {
    local url=$FABU_API_URL authority host octets='^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$'
    if [[ $url =~ [[:space:]] ]]; then
        err "FABU_API_URL must not contain spaces: '$url'"
    fi
    case ${url,,} in
        https://?*) authority=${url:8} ;;
        http://?*) authority=${url:7} ;;
        *) err "FABU_API_URL must be an https:// URL, not '$url'" ;;
    esac
    authority=${authority%%[/?#]*}
    if [[ $authority == *@* ]]; then
        err "FABU_API_URL must not carry a user name or password ('…@'): '$url'"
    fi
    if [[ ${url,,} == https://* ]]; then
        return 0
    fi
    if [[ $authority == \[* ]]; then
        host=${authority#\[}
        host=${host%%\]*}
    else
        host=${authority%%:*}
    fi
    host=${host,,}
    if [[ $host == localhost || $host == *?.localhost || $host == ::1 || $host == 0:0:0:0:0:0:0:1 ]]; then
        return 0
    fi
    if [[ $host =~ $octets ]] && ((BASH_REMATCH[1] <= 255 && BASH_REMATCH[2] <= 255 && BASH_REMATCH[3] <= 255)); then
        return 0
    fi
    err "FABU_API_URL '$url' is plain http:// to '$host': the host's signed requests and the deploy script must not travel unencrypted; use https:// (http:// is only for 127.0.0.0/8, ::1, localhost or *.localhost)"
}

# The SigV4 service the API's front checks: FABU_SIGV4_SERVICE when set (a custom domain in
# front of a Function URL), else lambda for a Function URL's host, execute-api for anything else
# (API Gateway, its custom domains).
pick_sigv4_service() {
    local host=${FABU_API_URL#*://}
    if [[ -n ${FABU_SIGV4_SERVICE:-} ]]; then
        case $FABU_SIGV4_SERVICE in
            lambda | execute-api) return 0 ;;
            *) err "FABU_SIGV4_SERVICE must be lambda (a Lambda Function URL) or execute-api (API Gateway), not '$FABU_SIGV4_SERVICE'" ;;
        esac
    fi
    host=${host%%[/?#]*} && host=${host%:*} && host=${host,,}
    if [[ $host =~ $FUNCTION_URL_HOST ]]; then
        FABU_SIGV4_SERVICE=lambda
    else
        FABU_SIGV4_SERVICE=execute-api
    fi
}

load_config() {
    local env_file=${FABU_AGENT_ENV:-/etc/fabu/agent.env}
    if [[ -e $env_file ]]; then
        read_config "$env_file"
    fi
    FABU_ROOT=${FABU_ROOT:-/opt/fabu}
    FABU_INTERVAL=${FABU_INTERVAL:-$INTERVAL_DEFAULT}
    FABU_IMDS_URL=${FABU_IMDS_URL:-http://169.254.169.254}
    if [[ -z ${FABU_HOST:-} ]]; then
        FABU_HOST=$(hostname -f 2>/dev/null || hostname) || err "cannot read the host name; set FABU_HOST"
    fi
    [[ -n ${FABU_API_URL:-} ]] || err "FABU_API_URL is not set (environment or $env_file)"
    [[ -n ${FABU_REGION:-} ]] || err "FABU_REGION is not set (environment or $env_file)"
    if ! [[ $FABU_INTERVAL =~ ^[1-9][0-9]{0,4}$ ]] || ((FABU_INTERVAL > INTERVAL_MAX)); then
        err "FABU_INTERVAL must be the cron line's interval in seconds (1 to $INTERVAL_MAX; 300 for */5), not '$FABU_INTERVAL'"
    fi
    FABU_SPLAY=${FABU_SPLAY:-$((FABU_INTERVAL * 4 / 5))}
    [[ $FABU_SPLAY =~ ^[0-9]{1,5}$ ]] || err "FABU_SPLAY must be a whole number of seconds, not '$FABU_SPLAY'"
    ((FABU_SPLAY == 0 || FABU_SPLAY < FABU_INTERVAL)) || err "FABU_SPLAY ($FABU_SPLAY s) must be less than FABU_INTERVAL ($FABU_INTERVAL s, the cron line's interval): a longer delay runs into the next cron run, which then finds the lock taken and skips (set FABU_INTERVAL to what cron runs at)"
    [[ $FABU_HOST =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$ ]] || err "FABU_HOST must be a host name (letters, digits, '-' and '.'), not '$FABU_HOST'"
    [[ $FABU_REGION =~ ^[a-z0-9-]{1,64}$ ]] || err "FABU_REGION must be an AWS region such as eu-west-1, not '$FABU_REGION'"
    check_api_url
    FABU_API_URL=${FABU_API_URL%/}
    pick_sigv4_service
    export FABU_API_URL FABU_HOST FABU_REGION FABU_ROOT FABU_SIGV4_SERVICE
}

# Hold $FABU_ROOT/.agent.lock for the rest of this run; a second run exits at once.
take_lock() {
    ensure mkdir -p -- "$FABU_ROOT"
    exec 9>>"$FABU_ROOT/.agent.lock" || err "cannot open $FABU_ROOT/.agent.lock"
    if ! flock -n 9; then
        say "another run holds $FABU_ROOT/.agent.lock; exiting" >&2
        exit 0
    fi
}

# Sleep a per-host number of seconds in [0, FABU_SPLAY]: the same host always waits the same
# time, so 100k hosts spread over the window instead of all polling at :00 and :05. A run from a
# terminal (someone typing fabu-agent.sh) does not wait.
splay() {
    local crc delay
    if ((FABU_SPLAY == 0)) || [[ -t 0 ]]; then
        return 0
    fi
    crc=$(printf '%s' "$FABU_HOST" | cksum) || err "cksum failed"
    delay=$((${crc%% *} % (FABU_SPLAY + 1)))
    sleep "$delay"
}

# JSON field $1 of the text $2 (IMDS answers one "Key" : "value" per line).
json_field() {
    printf '%s\n' "$2" | sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1
}

# Without static keys, take the instance role's temporary credentials from IMDSv2.
load_credentials() {
    local token role creds
    if [[ -n ${AWS_ACCESS_KEY_ID:-} && -n ${AWS_SECRET_ACCESS_KEY:-} ]]; then
        export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        [[ -z ${AWS_SESSION_TOKEN:-} ]] || export AWS_SESSION_TOKEN
        return 0
    fi
    local base=$FABU_IMDS_URL/latest
    if ! token=$(curl -sS --fail --max-time 3 -X PUT \
        -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' --url "$base/api/token"); then
        err "no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and no instance metadata at $FABU_IMDS_URL"
    fi
    if ! role=$(curl -sS --fail --max-time 3 -H "X-aws-ec2-metadata-token: $token" \
        --url "$base/meta-data/iam/security-credentials/") || [[ -z $role ]]; then
        err "this instance has no IAM role (instance metadata lists none)"
    fi
    role=${role%%$'\n'*}
    if ! creds=$(curl -sS --fail --max-time 3 -H "X-aws-ec2-metadata-token: $token" \
        --url "$base/meta-data/iam/security-credentials/$role"); then
        err "cannot read the credentials of instance role $role"
    fi
    AWS_ACCESS_KEY_ID=$(json_field AccessKeyId "$creds")
    AWS_SECRET_ACCESS_KEY=$(json_field SecretAccessKey "$creds")
    AWS_SESSION_TOKEN=$(json_field Token "$creds")
    if [[ -z $AWS_ACCESS_KEY_ID || -z $AWS_SECRET_ACCESS_KEY ]]; then
        err "the credentials of instance role $role are incomplete"
    fi
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
}

# Signed GET of API path $1 into file $2; prints the HTTP status (000 when there was none).
api_get() {
    local -a token=()
    if [[ -n ${AWS_SESSION_TOKEN:-} ]]; then
        token=(-H "x-amz-security-token: $AWS_SESSION_TOKEN")
    fi
    curl -sS --retry 2 --retry-delay 1 --retry-connrefused --max-time 60 \
        --aws-sigv4 "aws:amz:${FABU_REGION}:${FABU_SIGV4_SERVICE}" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "${token[@]}" \
        -o "$2" -w '%{http_code}' --url "$FABU_API_URL$1" || true
}

# Explain a status other than the expected ones, then exit 3.
refuse_status() {
    local what=$1 status=$2 body=$3
    case $status in
        000) api_err "$what: cannot reach $FABU_API_URL" ;;
        401 | 403) api_err "$what: HTTP $status: the API refused this host's credentials (check AWS_ACCESS_KEY_ID, the signing region '$FABU_REGION', the signing service '$FABU_SIGV4_SERVICE' and that the key belongs to host $FABU_HOST): $(head -c 300 -- "$body")" ;;
        *) api_err "$what: unexpected HTTP $status: $(head -c 300 -- "$body")" ;;
    esac
}

# The deploy script must be whole: its known last line, and bash must parse it.
check_complete() {
    local last
    last=$(tail -n 1 -- "$1")
    if [[ $last != "$FABU_SCRIPT_END" ]]; then
        api_err "the deploy script is incomplete (no '$FABU_SCRIPT_END' line at its end); not running it"
    fi
    if ! bash -n "$1"; then
        api_err "the deploy script does not parse; not running it"
    fi
}

# One "<project>:<version>" line per project directory of $FABU_ROOT (at most
# CURRENT_MAX_PROJECTS): the version in current/.fabu-version, none after the colon when there is
# no current release (no link, or a dangling one); left out when current has no readable version.
current_entries() {
    local dir name version n=0
    for dir in "$FABU_ROOT"/*/; do
        name=${dir%/} && name=${name##*/} && version=""
        [[ -d $dir && $name =~ $PROJECT_PATTERN ]] || continue
        if [[ -e $dir/current ]]; then
            [[ ! -f $dir/current/.fabu-version ]] || IFS= read -r version <"$dir/current/.fabu-version" || true
            [[ $version =~ $VERSION_PATTERN ]] || continue
        elif [[ ! -L $dir/current && ! -d $dir/releases ]]; then
            continue  # not a project directory
        fi
        printf '%s:%s\n' "$name" "$version"
        n=$((n + 1))
        ((n < CURRENT_MAX_PROJECTS)) || break
    done
}

# The poll's query string, ?current=<project>:<version>,... percent-encoded (empty without
# projects), of at most CURRENT_MAX_CHARS characters: when not all fit, as many as fit from a
# random one on (said on stderr), so every project's turn comes on a later run.
current_query() {
    local -a entries=()
    local value="" candidate i n start=0 left=0
    mapfile -t entries < <(current_entries)
    n=${#entries[@]}
    candidate=$(IFS=, && printf '%s' "${entries[*]}")
    ((${#candidate} <= CURRENT_MAX_CHARS)) || start=$((RANDOM % n))
    for ((i = 0; i < n; i++)); do
        candidate=${value:+$value,}${entries[(start + i) % n]}
        ((${#candidate} <= CURRENT_MAX_CHARS)) && value=$candidate || left=$((left + 1))
    done
    if ((left > 0)); then
        say "$left of $n projects' current releases did not fit in this poll ($CURRENT_MAX_CHARS characters); they are sent on later runs" >&2
    fi
    value=${value//:/%3A} && value=${value//,/%2C} && value=${value//+/%2B}
    printf '%s' "${value:+?current=$value}"
}

# The poll's answer $1 says nothing is pending (a host that only drains).
nothing_pending() {
    local pattern='"pending"[[:space:]]*:[[:space:]]*\[[[:space:]]*\]'
    [[ $(head -c 65536 -- "$1" | tr -d '\n') =~ $pattern ]]
}

# Say one line per project of the poll's answer $1 whose host is draining; false when none is.
say_draining() {
    local body rest object ends n=0
    local list='"draining"[[:space:]]*:[[:space:]]*\[([^]]*)\]' one='\{([^}]*)\}'
    body=$(head -c 65536 -- "$1" | tr -d '\n')
    [[ $body =~ $list ]] || return 1
    rest=${BASH_REMATCH[1]}
    while [[ $rest =~ $one ]]; do
        object=${BASH_REMATCH[1]} && rest=${rest#*"${BASH_REMATCH[0]}"}
        ends=$(json_string until "$object")
        say "$(json_string project "$object") $(json_string version "$object"): draining${ends:+ until $ends}, the deploy follows"
        n=$((n + 1))
    done
    ((n > 0))
}

# The string value of key $1 in the JSON object text $2 (empty when absent or null).
json_string() {
    local pattern="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
    [[ ! $2 =~ $pattern ]] || printf '%s' "${BASH_REMATCH[1]}"
}

# True when a deploy script died mid-deploy here: it left its in-flight marker behind.
interrupted_deploy_on_disk() {
    local marker
    for marker in "$FABU_ROOT"/*/.fabu-inflight; do
        if [[ -f $marker ]]; then
            return 0
        fi
    done
    return 1
}

main() {
    local cmd status query
    for cmd in curl flock cksum bash tail head sed mktemp stat tr; do
        need_cmd "$cmd"
    done
    load_config
    take_lock
    splay
    load_credentials
    WORK=$(mktemp -d) || err "cannot create a temporary directory"
    trap 'rm -rf -- "$WORK"' EXIT

    query=$(current_query)
    status=$(api_get "/api/v1/$FABU_HOST$query" "$WORK/poll")
    case $status in
        204)
            # The API still holds an interrupted deploy as in progress (so nothing is pending):
            # the script, even one with no items, reports the interruption at once.
            if ! interrupted_deploy_on_disk; then
                return 0
            fi
            say "a deploy was interrupted on $FABU_HOST; fetching the deploy script to report it"
            ;;
        200)
            # Draining hosts get no script: their deploy comes once the connections drained.
            if say_draining "$WORK/poll" && nothing_pending "$WORK/poll"; then
                if ! interrupted_deploy_on_disk; then
                    return 0
                fi
                say "a deploy was interrupted on $FABU_HOST; fetching the deploy script to report it"
            else
                say "a deploy is pending for $FABU_HOST; fetching the deploy script"
            fi
            ;;
        *) refuse_status "poll of /api/v1/$FABU_HOST" "$status" "$WORK/poll" ;;
    esac

    status=$(api_get "/api/v1/$FABU_HOST/deploy" "$WORK/deploy.sh")
    if [[ $status != 200 ]]; then
        refuse_status "download of the deploy script" "$status" "$WORK/deploy.sh"
    fi
    check_complete "$WORK/deploy.sh"
    # 9>&- : the lock stays with this process; a daemon started by a user's `start` must not
    # inherit it (or no later run could ever take it).
    bash "$WORK/deploy.sh" 9>&-
}

main "$@" || exit "$?"
}
# fabu-script-end
