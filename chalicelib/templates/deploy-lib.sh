# shellcheck shell=bash
# fabu deploy-script library: the static body of every deploy script (constants and functions).
#
# templates/deploy.sh.j2 includes this file verbatim inside its one { } group, then adds one
# host's data and the call of main: nothing here runs until main is called. The template engine
# reads this file, so it must hold no template delimiters (tests/hosts/test_deploy_lib.py checks
# that, and that shellcheck passes on this file alone and on a rendered script).
#
# The data part assigns these variables, which this file only reads:
#   FABU_SCRIPT_HOST FABU_SCRIPT_GENERATED_AT FABU_ITEM_COUNT        (the script's header values)
#   P_KIND P_PROJECT P_VERSION P_DEPLOY_ID P_REASON P_URL P_SHA256 P_SIZE P_DEPS P_DEP_GROUP_SIZES
#   P_SCRIPTS P_TIMEOUTS P_HEALTH_TIMEOUT P_HEALTH_INTERVAL P_AUTO_ROLLBACK P_KEEP_RELEASES
#   P_MIN_FREE_MB P_CONFIG P_SECRET_NAMES P_CONFIG_HASH P_CONFIG_REVISION
#                                                  (one item's values, set by `load_item N`)
# so "referenced but not assigned" (SC2154) is off for this file alone; the test checks, with
# the optional check-unassigned-uppercase on, that the directive hides nothing but these names.
# shellcheck disable=SC2154 # the variables listed above are assigned by the data part

# -e is inert inside main (it is called in a || list); every failure is handled explicitly.
set -euo pipefail

FABU_OUTPUT_LIMIT=65536
REPORT_HTTP_STATUS=""
FABU_SCRIPT_NAMES=(start stop test pre_deploy post_deploy health)
# The time limit of a user script whose item names none (health's is P_HEALTH_TIMEOUT).
FABU_DEFAULT_TIMEOUT=600
# At most this many refused entries of a release tarball are named in the report.
FABU_MAX_NAMED_ENTRIES=10
declare -A P_SCRIPTS=()
declare -A P_TIMEOUTS=()
declare -A P_CONFIG=()
P_SECRET_NAMES=()
# The item's secret config values (fetch_secrets; memory only) and what reports hide (MASKS).
declare -A SECRET_VALUES=()
MASKS=()
# A secret value shorter than this is not masked (it would hide ordinary words of the output).
FABU_MASK_MIN=4

say() {
    printf 'fabu: %s\n' "$*"
}

warn() {
    printf 'fabu: warning: %s\n' "$*" >&2
}

# Only before any phase runs: a platform/environment error ends the script with code 2.
err() {
    printf 'fabu: error: %s\n' "$*" >&2
    exit 2
}

# Inside a phase: say why on stderr (the phase's failure report) and remember it for rollback.
fail() {
    FAIL_REASON=$*
    printf 'fabu: error: %s\n' "$*" >&2
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

# --- reports -------------------------------------------------------------------------------

# json_escape VAR TEXT: VAR = TEXT as a JSON string body (no quotes around it). Works on bytes
# (LC_ALL=C): UTF-8 passes through, the escapes JSON requires are applied. No subshell: reports
# are built on the hot path of every phase.
json_escape() {
    local -n _json_out=$1
    local LC_ALL=C s=$2 i c hex
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    if [[ $s == *[$'\001'-$'\037']* ]]; then
        for ((i = 1; i < 32; i++)); do
            printf -v c '%b' "\\x$(printf '%02x' "$i")"
            printf -v hex '\\u%04x' "$i"
            s=${s//"$c"/$hex}
        done
    fi
    _json_out=$s
}

# Valid UTF-8 on stdout from any bytes on stdin (NULs and broken sequences dropped). The trip
# through UTF-16 is on purpose: glibc's UTF-8 to UTF-8 keeps bytes such as 0xF5 that JSON rejects.
to_utf8() {
    if command -v iconv >/dev/null 2>&1; then
        tr -d '\000' | iconv -c -f UTF-8 -t UTF-16LE 2>/dev/null | iconv -c -f UTF-16LE -t UTF-8 2>/dev/null || true
    else
        LC_ALL=C tr -d '\000\200-\377'
    fi
}

# RUNNING_VERSION = the version running now in project dir $1 ("" when none).
read_running_version() {
    RUNNING_VERSION=""
    if [[ -f $1/current/.fabu-version ]]; then
        IFS= read -r -d '' RUNNING_VERSION <"$1/current/.fabu-version" || true
        RUNNING_VERSION=${RUNNING_VERSION%$'\n'}
    fi
}

# OUTPUT = the report text of file $1: valid UTF-8, its last FABU_OUTPUT_LIMIT bytes, with a
# first line saying so when it was cut (with secrets to mask, the cut's first, partial line goes
# too: a secret split by the cut never shows in part); TRUNCATED = true|false. Plain small ASCII
# needs no fork.
read_output() {
    local LC_ALL=C size
    TRUNCATED=false
    if ! IFS= read -r -d '' OUTPUT <"$1"; then
        if [[ ${#OUTPUT} -le $FABU_OUTPUT_LIMIT && $OUTPUT != *[$'\x80'-$'\xff']* ]]; then
            return 0
        fi
    fi
    size=$(wc -c <"$1")
    if ((size > FABU_OUTPUT_LIMIT && ${#MASKS[@]})); then
        # The cut may have split a secret: its first (partial) line goes too.
        OUTPUT=$(tail -c "$FABU_OUTPUT_LIMIT" -- "$1" | tail -n +2 | to_utf8; printf x)
    else
        OUTPUT=$(tail -c "$FABU_OUTPUT_LIMIT" -- "$1" | to_utf8; printf x)
    fi
    OUTPUT=${OUTPUT%x}
    if ((size > FABU_OUTPUT_LIMIT)); then
        TRUNCATED=true
        OUTPUT="[fabu: output cut to its last $FABU_OUTPUT_LIMIT of $size bytes]"$'\n'$OUTPUT
    fi
}

# mask_output VAR: every secret value in VAR (MASKS, longest first) replaced by ***.
mask_output() {
    local -n _masked=$1
    local LC_ALL=C mask stars='***'
    for mask in "${MASKS[@]}"; do
        _masked=${_masked//"$mask"/$stars}
    done
}

# print_masked FILE: the file's text (as reported: its last FABU_OUTPUT_LIMIT bytes) with the
# secret values masked.
print_masked() {
    read_output "$1"
    mask_output OUTPUT
    printf '%s' "$OUTPUT"
}

# report PROJECT VERSION DEPLOY_ID PHASE STATUS EXIT_CODE OUTPUT_FILE
# A failed report warns and returns 1; it never stops the deploy or its rollback.
report() {
    local project=$1 version=$2 deploy_id=$3 phase=$4 status=$5 code=$6 file=$7
    local running=null body response j_project j_version j_deploy_id j_output j_running
    read_output "$file"
    if ((${#MASKS[@]})); then
        mask_output OUTPUT
    fi
    if safe_component "$project"; then
        read_running_version "$FABU_ROOT/$project"
        if [[ -n $RUNNING_VERSION ]]; then
            json_escape j_running "$RUNNING_VERSION"
            running="\"$j_running\""
        fi
    fi
    json_escape j_project "$project"
    json_escape j_version "$version"
    json_escape j_deploy_id "$deploy_id"
    json_escape j_output "$OUTPUT"
    body=$WORK/report.json
    response=$WORK/report.response
    printf '{"project":"%s","version":"%s","deploy_id":"%s","phase":"%s","status":"%s","exit_code":%d,"output":"%s","running_version":%s,"truncated":%s}' \
        "$j_project" "$j_version" "$j_deploy_id" "$phase" "$status" "$code" "$j_output" \
        "$running" "$TRUNCATED" >"$body"
    if ! REPORT_HTTP_STATUS=$(api_post "/api/v1/$FABU_SCRIPT_HOST/report" "$body" "$response"); then
        warn "could not report $phase $status of $project $version: $(head -c 500 -- "$response" 2>/dev/null) (HTTP ${REPORT_HTTP_STATUS:-000})"
        return 1
    fi
}

# Signed POST of file $2 to API path $1; the response body goes to $3, the HTTP status to stdout.
api_post() {
    local path=$1 body=$2 response=$3
    local -a token=()
    if [[ -n ${AWS_SESSION_TOKEN:-} ]]; then
        token=(-H "x-amz-security-token: $AWS_SESSION_TOKEN")
    fi
    curl -sS --fail-with-body --retry 3 --retry-delay 1 --retry-connrefused --max-time 30 \
        --aws-sigv4 "aws:amz:${FABU_REGION}:${FABU_SIGV4_SERVICE:-execute-api}" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "${token[@]}" \
        -H 'Content-Type: application/json' --data-binary "@$body" \
        -o "$response" -w '%{http_code}' --url "$FABU_API_URL$path"
}

# --- config and secrets ----------------------------------------------------------------------

# fetch_secrets: SECRET_VALUES = the values of the item's SSM parameters and secrets
# (P_SECRET_NAMES) from GET /api/v1/<host>/config?deploy_id=<id>, signed like the reports and
# answered only while this host holds the deploy's lease. The answer goes through a 0600 file
# in WORK (removed at once; WORK itself on exit) into memory; its values are base64, so no JSON
# parser is needed. Then MASKS (build_masks). 2 with a reason when it cannot.
fetch_secrets() {
    local file=$WORK/config.answer status body rest name b64 value
    local re='"([A-Z_][A-Z0-9_]*)"[[:space:]]*:[[:space:]]*"([A-Za-z0-9+/=]*)"'
    local -a token=()
    SECRET_VALUES=()
    MASKS=()
    if ((${#P_SECRET_NAMES[@]} == 0)); then
        return 0
    fi
    if [[ -n ${AWS_SESSION_TOKEN:-} ]]; then
        token=(-H "x-amz-security-token: $AWS_SESSION_TOKEN")
    fi
    status=$(umask 077 && curl -sS --retry 3 --retry-delay 1 --retry-connrefused --max-time 30 \
        --aws-sigv4 "aws:amz:${FABU_REGION}:${FABU_SIGV4_SERVICE:-execute-api}" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "${token[@]}" \
        -o "$file" -w '%{http_code}' \
        --url "$FABU_API_URL/api/v1/$FABU_SCRIPT_HOST/config?deploy_id=$P_DEPLOY_ID" 2>"$WORK/config.err")
    body=""
    if [[ -f $file ]]; then
        body=$(<"$file")
    fi
    rm -f -- "$file"
    if [[ $status != 200 ]]; then
        [[ ${status:-000} != 000 ]] || body=$(head -c 300 -- "$WORK/config.err" 2>/dev/null)
        fail "config: could not fetch secrets: HTTP ${status:-000} ${body:0:500}"
        return 2
    fi
    rest=${body#*\"values\"}
    while [[ $rest =~ $re ]]; do
        name=${BASH_REMATCH[1]} b64=${BASH_REMATCH[2]}
        rest=${rest#*"${BASH_REMATCH[0]}"}
        if [[ " ${P_SECRET_NAMES[*]} " != *" $name "* ]]; then
            continue
        fi
        if ! value=$(base64 -d <<<"$b64" && printf x); then
            fail "config: could not fetch secrets: the value of $name is not base64"
            return 2
        fi
        SECRET_VALUES[$name]=${value%x}
    done
    for name in "${P_SECRET_NAMES[@]}"; do
        if [[ -z ${SECRET_VALUES[$name]+set} ]]; then
            fail "config: could not fetch secrets: the answer has no value for $name"
            return 2
        fi
    done
    build_masks
    say "config: ${#SECRET_VALUES[@]} secret value(s) fetched for deploy $P_DEPLOY_ID (masked in reports)"
}

# MASKS = every secret value, and every line of a value of several lines, of at least
# FABU_MASK_MIN bytes; longest first (a value that holds another is masked whole).
build_masks() {
    local LC_ALL=C name value line tmp i j
    local -a found=()
    for name in "${!SECRET_VALUES[@]}"; do
        value=${SECRET_VALUES[$name]}
        found+=("$value")
        if [[ $value == *$'\n'* ]]; then
            while IFS= read -r line; do
                found+=("$line")
            done <<<"$value"
        fi
    done
    MASKS=()
    for value in "${found[@]}"; do
        if ((${#value} >= FABU_MASK_MIN)); then
            MASKS+=("$value")
        fi
    done
    for ((i = 1; i < ${#MASKS[@]}; i++)); do
        tmp=${MASKS[i]}
        for ((j = i - 1; j >= 0; j--)); do
            if ((${#MASKS[j]} >= ${#tmp})); then
                break
            fi
            MASKS[j + 1]=${MASKS[j]}
        done
        MASKS[j + 1]=$tmp
    done
}

# The config (its fingerprint) the project's running release was last started with.
write_config_marker() {
    if ! printf '%s\n' "$P_CONFIG_HASH" >"$PROJECT_DIR/.fabu-config"; then
        warn "could not write $PROJECT_DIR/.fabu-config"
    fi
}

# --- the in-flight marker ------------------------------------------------------------------

# Written before each phase, removed when the item is done: a host that died mid-deploy finds
# it on the next run and reports that deploy as interrupted. Values are NUL-terminated (no value
# can hold a NUL; any other byte, newlines included, survives).
write_marker() {
    if ! printf '%s\0' "$P_PROJECT" "$P_VERSION" "$P_DEPLOY_ID" "$1" >"$PROJECT_DIR/.fabu-inflight"; then
        warn "could not write the in-flight marker of $P_PROJECT"
    fi
}

report_interrupted_deploys() {
    local marker fields line project version deploy_id phase note
    for marker in "$FABU_ROOT"/*/.fabu-inflight; do
        [[ -f $marker ]] || continue
        fields=()
        while IFS= read -r -d '' line; do
            fields+=("$line")
        done <"$marker"
        project=${fields[0]:-} version=${fields[1]:-} deploy_id=${fields[2]:-} phase=${fields[3]:-}
        note=$WORK/interrupted.txt
        printf 'fabu: %s %s was interrupted during %s (the host stopped mid-deploy); found on the next run\n' \
            "$project" "$version" "$phase" >"$note"
        cat -- "$note" >&2
        if report "$project" "$version" "$deploy_id" "$phase" interrupted -1 "$note"; then
            rm -f -- "$marker"
        elif [[ $REPORT_HTTP_STATUS == 404 ]]; then
            # The platform forgot that deploy (project deleted, host removed): keeping the
            # marker would only make every later run fetch a script to fail this report again.
            warn "the platform no longer knows $project deploy $deploy_id; forgetting its marker"
            rm -f -- "$marker"
        fi
    done
}

# --- phases --------------------------------------------------------------------------------

# run_phase PHASE FUNCTION: marker, run with stdout/stderr captured to files (files, not pipes:
# a daemon started by `start` keeps them open), echo them, report, return the function's code.
run_phase() {
    local phase=$1 fn=$2 out err rc status file
    write_marker "$phase"
    out=$WORK/$phase.out
    err=$WORK/$phase.err
    CURRENT_PHASE=$phase
    SKIPPED=0
    FAIL_REASON=""
    if "$fn" >"$out" 2>"$err" </dev/null; then
        rc=0
    else
        rc=$?
    fi
    if ((${#MASKS[@]})); then
        [[ ! -s $out ]] || print_masked "$out"
        [[ ! -s $err ]] || print_masked "$err" >&2
    else
        [[ ! -s $out ]] || cat -- "$out"
        [[ ! -s $err ]] || cat -- "$err" >&2
    fi
    if ((rc == 0)); then
        status=ok file=$out
        if ((SKIPPED)); then
            status=skipped
        fi
    else
        status=failed file=$err
    fi
    report "$P_PROJECT" "$P_VERSION" "$P_DEPLOY_ID" "$phase" "$status" "$rc" "$file" || true
    return "$rc"
}

# --- user scripts ----------------------------------------------------------------------------

# run_user_script NAME RELEASE_DIR [SECONDS]: run the NAME script of the release in RELEASE_DIR
# (if it has one) from that dir, with the FABU_* variables set, the host's API keys removed and a
# time limit: SECONDS, else the item's timeout for NAME. Returns 0, 1 (it failed) or 124 (it
# timed out).
#
# The limit is GNU coreutils' `timeout`: it makes itself the leader of a new process group for
# the script and, on expiry, sends TERM to that whole group, then KILL after FABU_KILL_GRACE
# seconds when the script is still there. Whatever of the group outlived the script (a child that
# ignores TERM) is ended by end_process_group: nothing the script started keeps running, so it
# can hold neither the host's deploy nor the agent's lock. A script that ends in time keeps its
# background children (the daemons a `start` launches).
#
# FABU_VERSION is always the version of the script's own release (the one it starts, stops or
# checks), FABU_PREVIOUS_VERSION the version the host moves away from and FABU_TARGET_VERSION the
# one it moves to in this step (MOVING_FROM and MOVING_TO; a self-rollback swaps them).
run_user_script() {
    local name=$1 dir=$2 version=${2##*/} file limit pid rc started var
    file=$PROJECT_DIR/.fabu-scripts/$version/$name
    if [[ ! -s $file ]]; then
        return 0
    fi
    limit=${3:-}
    if [[ -z $limit ]]; then
        limit=${P_TIMEOUTS[$name]:-$FABU_DEFAULT_TIMEOUT}
    fi
    say "running $name of $version (time limit $limit s)"
    started=$SECONDS
    (
        cd -- "$dir" || exit 2
        unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
        for var in "${!P_CONFIG[@]}"; do
            export -- "$var=${P_CONFIG[$var]}" || exit 2
        done
        for var in "${!SECRET_VALUES[@]}"; do
            export -- "$var=${SECRET_VALUES[$var]}" || exit 2
        done
        export FABU_PROJECT="$P_PROJECT" FABU_VERSION="$version" \
            FABU_PREVIOUS_VERSION="$MOVING_FROM" FABU_TARGET_VERSION="$MOVING_TO" \
            FABU_RELEASE_DIR="$dir" FABU_PHASE="$CURRENT_PHASE" FABU_SCRIPT="$name" \
            FABU_CONFIG_REVISION="$P_CONFIG_REVISION"
        exec timeout --kill-after="$FABU_KILL_GRACE" "$limit" bash "$file" </dev/null
    ) &
    pid=$!
    if wait "$pid"; then
        return 0
    else
        rc=$?
    fi
    # 124: timeout's TERM ended it; 137: its KILL did. Either only once the limit has passed (a
    # script may exit 124 or be killed by someone else on its own).
    if ((rc == 124 || rc == 128 + 9)) && ((SECONDS - started >= limit)); then
        end_process_group "$pid"
        fail "$name timed out after $limit s"
        return 124
    fi
    fail "$name exited with code $rc"
    return 1
}

# end_process_group PGID: after a timeout, give what is left of the group the grace to end on
# the TERM it got, then KILL it; return once none of it runs (or, with a warning, 5 s later).
end_process_group() {
    local group=$1 deadline=$((SECONDS + FABU_KILL_GRACE)) killed=0
    while group_alive "$group"; do
        if ((!killed && SECONDS >= deadline)); then
            kill -KILL -- "-$group" 2>/dev/null || true
            killed=1
            deadline=$((SECONDS + 5))
        elif ((killed && SECONDS >= deadline)); then
            warn "process group $group is still there after KILL"
            return 0
        fi
        sleep 0.1
    done
}

# True while a process of group $1 runs (zombies do not count: init may be slow to reap them).
group_alive() {
    local stat line
    local -a fields
    if [[ ! -d /proc/self ]]; then
        kill -0 -- "-$1" 2>/dev/null
        return
    fi
    for stat in /proc/[0-9]*/stat; do
        line=""
        IFS= read -r line 2>/dev/null <"$stat" || true    # it may end meanwhile
        # "PID (COMM) STATE PPID PGRP ...": COMM may hold anything, so split after its last ") "
        read -r -a fields <<<"${line##*) }"
        if [[ ${fields[2]:-} == "$1" && ${fields[0]:-Z} != [ZX] ]]; then
            return 0
        fi
    done
    return 1
}

# The root-only directory of the user scripts of every release: $PROJECT_DIR/.fabu-scripts
# (0700, the agent user's), one 0700 subdirectory per release version. Never inside a release:
# a release is the tarball's content, and the scripts run as the agent's user.
ensure_scripts_root() {
    local root=$PROJECT_DIR/.fabu-scripts
    if [[ -L $root ]] || { [[ -e $root ]] && [[ ! -d $root || ! -O $root ]]; }; then
        fail "$root must be a directory of this user ($(id -un)): it holds the user scripts; remove it"
        return 2
    fi
    if ! mkdir -p -- "$root" || ! chmod 0700 -- "$root"; then
        fail "cannot create $root"
        return 2
    fi
}

# write_user_scripts VERSION [1]: the item's user scripts into .fabu-scripts/VERSION (0700 files
# in a 0700 dir), replacing what was there; with 1, only add those missing there.
write_user_scripts() {
    local version=$1 only_missing=${2:-0} dir tmp name
    ensure_scripts_root || return
    dir=$PROJECT_DIR/.fabu-scripts/$version
    if ((only_missing)) && [[ -d $dir && ! -L $dir ]]; then
        tmp=$dir
    elif ! tmp=$(mktemp -d "$PROJECT_DIR/.fabu-scripts/.new-XXXXXX"); then
        fail "cannot create a directory in $PROJECT_DIR/.fabu-scripts"
        return 2
    fi
    for name in "${FABU_SCRIPT_NAMES[@]}"; do
        if [[ -z ${P_SCRIPTS[$name]:-} ]] || { ((only_missing)) && [[ -s $tmp/$name ]]; }; then
            continue
        fi
        if ! base64 -d <<<"${P_SCRIPTS[$name]}" >"$tmp/$name" || ! chmod 0700 -- "$tmp/$name"; then
            fail "cannot write the $name script"
            return 2
        fi
    done
    if [[ $tmp != "$dir" ]] && { ! rm -rf -- "$dir" || ! mv -T -- "$tmp" "$dir"; }; then
        rm -rf -- "$tmp"
        fail "cannot move the user scripts into $dir"
        return 2
    fi
    chmod 0700 -- "$dir" || true
}

# Releases unpacked by an older fabu kept their scripts inside the release: move them (regular
# files only) to .fabu-scripts/<version> once, so such a release is still stopped and restarted
# by its own scripts; a release's own .fabu-scripts is never run from there.
adopt_old_scripts() {
    local release version legacy dir name
    for release in "$PROJECT_DIR"/releases/*/; do
        release=${release%/}
        legacy=$release/.fabu-scripts
        if [[ -L $legacy || ! -d $legacy ]]; then
            continue
        fi
        version=${release##*/}
        dir=$PROJECT_DIR/.fabu-scripts/$version
        if [[ ! -e $dir ]] && ensure_scripts_root && mkdir -m 0700 -- "$dir"; then
            for name in "${FABU_SCRIPT_NAMES[@]}"; do
                if [[ -f $legacy/$name && ! -L $legacy/$name ]] && cp -- "$legacy/$name" "$dir/$name"; then
                    chmod 0700 -- "$dir/$name" || true
                fi
            done
            say "moved the user scripts of release $version to $dir"
        fi
        rm -rf -- "$legacy" || warn "could not remove $legacy"
    done
}

check_deb_dependencies() {
    local i=0 size k bad=0 group_ok messages name op version
    if ((${#P_DEP_GROUP_SIZES[@]} == 0)); then
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
        fail "Debian dependencies are declared but dpkg-query/dpkg are not available"
        return 2
    fi
    for size in "${P_DEP_GROUP_SIZES[@]}"; do
        group_ok=0 messages=()
        for ((k = 0; k < size; k++)); do
            name=${P_DEPS[i]} op=${P_DEPS[i + 1]} version=${P_DEPS[i + 2]}
            i=$((i + 3))
            if dep_satisfied "$name" "$op" "$version"; then
                group_ok=1
            else
                messages+=("$DEP_MESSAGE")
            fi
        done
        if ((!group_ok)); then
            bad=1
            printf 'fabu: error: Debian dependency not met: %s\n' "${messages[@]}" >&2
        fi
    done
    if ((bad)); then
        FAIL_REASON="Debian dependencies not met"
        return 1
    fi
    say "Debian dependencies met"
}

# dep_satisfied NAME DPKG_OP VERSION; on failure DEP_MESSAGE says why (with the installed version).
dep_satisfied() {
    local name=$1 op=$2 version=$3 line state installed
    if ! line=$(dpkg-query -W -f='${Status} ${Version}' -- "$name" 2>/dev/null); then
        line=""
    fi
    read -r _ _ state installed <<<"$line"
    if [[ ${state:-} != installed ]]; then
        DEP_MESSAGE="$name is not installed"
        return 1
    fi
    if [[ -z $op ]] || dpkg --compare-versions "$installed" "$op" "$version"; then
        return 0
    fi
    DEP_MESSAGE="$name $installed is installed, needs $op $version"
    return 1
}

check_free_space() {
    local free_kb need_kb
    need_kb=$((P_MIN_FREE_MB * 1024 + P_SIZE * 2 / 1024))
    if ! free_kb=$(df -Pk -- "$PROJECT_DIR" | awk 'NR == 2 { print $4 }') || [[ -z $free_kb ]]; then
        fail "cannot read the free space of $PROJECT_DIR"
        return 2
    fi
    if ((free_kb < need_kb)); then
        fail "not enough free disk space in $PROJECT_DIR: ${free_kb} KB free, ${need_kb} KB needed"
        return 2
    fi
}

download_and_unpack() {
    local artifact=$WORK/artifact.tgz actual size unpack
    rm -f -- "$artifact"
    say "downloading $P_PROJECT $P_VERSION"
    if ! curl -sS --fail --retry 3 --retry-delay 1 --retry-connrefused --max-time 900 \
        -o "$artifact" --url "$P_URL"; then
        fail "cannot download the release tarball"
        return 2
    fi
    if ((P_SIZE > 0)); then
        size=$(wc -c <"$artifact")
        if ((size != P_SIZE)); then
            fail "the release tarball has $size bytes, expected $P_SIZE"
            return 2
        fi
    fi
    actual=$(sha256sum -- "$artifact")
    actual=${actual%% *}
    if [[ $actual != "${P_SHA256,,}" ]]; then
        fail "sha256 mismatch: the tarball has $actual, expected $P_SHA256; nothing unpacked"
        return 2
    fi
    say "sha256 verified: $actual"
    check_archive "$artifact" || return
    if ! unpack=$(mktemp -d "$PROJECT_DIR/.unpack-XXXXXX"); then
        fail "cannot create a temporary directory in $PROJECT_DIR"
        return 2
    fi
    # Not as the archive says: owner and mode bits from this user and umask 022 (no setuid,
    # setgid or group/world-writable entries; secure_release makes sure of it).
    if ! (umask 022 && tar -xzf "$artifact" -C "$unpack" --no-same-owner --no-same-permissions); then
        rm -rf -- "$unpack"
        fail "cannot unpack the release tarball"
        return 2
    fi
    rm -rf -- "$unpack/.fabu-scripts" "$unpack/.fabu-version"
    if ! check_links "$unpack"; then
        rm -rf -- "$unpack"
        return 2
    fi
    if ! printf '%s\n' "$P_VERSION" >"$unpack/.fabu-version" || ! secure_release "$unpack"; then
        rm -rf -- "$unpack"
        fail "cannot write $RELEASE_DIR/.fabu-version or set the release's modes"
        return 2
    fi
    if ! write_user_scripts "$P_VERSION"; then
        rm -rf -- "$unpack"
        return 2
    fi
    # An older copy of this version that is not running (a re-deploy) is replaced.
    if [[ -e $RELEASE_DIR ]] && ! rm -rf -- "$RELEASE_DIR"; then
        rm -rf -- "$unpack"
        fail "cannot replace the old copy of $RELEASE_DIR"
        return 2
    fi
    if ! mv -T -- "$unpack" "$RELEASE_DIR"; then
        rm -rf -- "$unpack"
        fail "cannot move the release into $RELEASE_DIR"
        return 2
    fi
    say "unpacked into $RELEASE_DIR"
}

# --- what a release tarball may hold ----------------------------------------------------------

# check_archive TARBALL: before anything is unpacked, refuse every entry that is not a regular
# file, a directory or a symlink that stays inside the release: hard links, devices, fifos,
# absolute or '..' names, symlinks to absolute paths or out of the release (the first
# FABU_MAX_NAMED_ENTRIES are named). GNU tar lists names C-quoted and owners as numbers, so every
# line is: MODE UID/GID SIZE DATE TIME "NAME"[ -> "TARGET"| link to "TARGET"], and the name
# starts at the line's first double quote. No fork per entry: a release may hold 100k files.
check_archive() {
    local listing=$WORK/listing line name rest refused=0 noun=entry
    local quoted='^((\\.|[^"\\])*)"(.*)$' target='^ -> "((\\.|[^"\\])*)"$'
    if ! tar -tvzf "$1" --numeric-owner --quoting-style=c >"$listing"; then
        fail "cannot list the release tarball"
        return 2
    fi
    while IFS= read -r line; do
        rest=${line#*\"}
        PROBLEM="" name=""
        if [[ $rest == "$line" ]] || ! [[ $rest =~ $quoted ]]; then
            PROBLEM="cannot be read from the tarball's listing: $line"
        else
            name=${BASH_REMATCH[1]} rest=${BASH_REMATCH[3]}
            case ${line:0:1} in
                - | d) name_problem "$name" ;;
                l)
                    if [[ $rest =~ $target ]]; then
                        symlink_problem "$name" "${BASH_REMATCH[1]}"
                    else
                        PROBLEM="is a symlink whose target cannot be read"
                    fi
                    ;;
                h) PROBLEM="is a hard link${rest/ link to / to }" ;;
                c) PROBLEM="is a character device" ;;
                b) PROBLEM="is a block device" ;;
                p) PROBLEM="is a fifo (named pipe)" ;;
                *) PROBLEM="is of type '${line:0:1}'" ;;
            esac
        fi
        if [[ -z $PROBLEM ]]; then
            continue
        fi
        refused=$((refused + 1))
        if ((refused == 1)); then
            FAIL_REASON="refusing the release tarball: entry \"$name\" $PROBLEM"
        fi
        if ((refused <= FABU_MAX_NAMED_ENTRIES)); then
            printf 'fabu: error: refusing the release tarball: entry "%s" %s\n' "$name" "$PROBLEM" >&2
        fi
    done <"$listing"
    if ((refused == 0)); then
        return 0
    fi
    if ((refused > FABU_MAX_NAMED_ENTRIES)); then
        printf 'fabu: error: ... and %d more refused entries (only the first %d are named)\n' \
            "$((refused - FABU_MAX_NAMED_ENTRIES))" "$FABU_MAX_NAMED_ENTRIES" >&2
    fi
    ((refused == 1)) || noun=entries
    printf 'fabu: error: %d %s refused, nothing unpacked: a release holds only regular files, directories and symlinks that stay inside it\n' \
        "$refused" "$noun" >&2
    return 2
}

# PROBLEM = why the entry NAME (C-quoted, as listed) may not be in a release, or "".
name_problem() {
    local part
    local -a parts
    PROBLEM=""
    if [[ $1 == /* ]]; then
        PROBLEM="has an absolute name"
        return 0
    fi
    IFS=/ read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part == .. ]]; then
            PROBLEM="has '..' in its name"
            return 0
        fi
    done
}

# PROBLEM = why the symlink NAME -> TARGET (C-quoted, as listed) may not be in a release, or "":
# its target must be relative and, read from the link's directory, never climb above the release.
symlink_problem() {
    local target=$2 depth=-1 part
    local -a parts
    name_problem "$1"
    if [[ -n $PROBLEM ]]; then
        return 0
    fi
    if [[ $target == /* ]]; then
        PROBLEM="is a symlink to \"$target\", an absolute path"
        return 0
    fi
    IFS=/ read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ -n $part && $part != . ]]; then
            depth=$((depth + 1))
        fi
    done
    if ((depth < 0)); then
        PROBLEM="is a symlink in place of the release directory"
        return 0
    fi
    IFS=/ read -r -a parts <<<"$target"
    for part in "${parts[@]}"; do
        case $part in
            "" | .) ;;
            ..) depth=$((depth - 1)) ;;
            *) depth=$((depth + 1)) ;;
        esac
        if ((depth < 0)); then
            PROBLEM="is a symlink to \"$target\", out of the release"
            return 0
        fi
    done
}

# check_links DIR: every symlink unpacked into DIR resolves inside DIR (a chain of links each
# harmless on its own, such as a/up -> .. and b -> a/up/.., can still point out). One realpath
# for all of them; a second pass names the culprit.
check_links() {
    local base resolved link count=0 links bad=0
    if ! base=$(realpath -- "$1"); then
        fail "cannot resolve $1"
        return 2
    fi
    while IFS= read -r -d '' resolved; do
        count=$((count + 1))
        if [[ $resolved != "$base" && $resolved != "$base"/* ]]; then
            bad=1
        fi
    done < <(find "$1" -type l -exec realpath -m -z -- {} + 2>/dev/null)
    links=$(find "$1" -type l -printf .)
    if ((!bad && count == ${#links})); then
        return 0
    fi
    while IFS= read -r -d '' link; do
        if ! resolved=$(realpath -m -- "$link" 2>&1) || [[ $resolved != "$base" && $resolved != "$base"/* ]]; then
            fail "refusing the release tarball: symlink \"${link#"$1"/}\" resolves out of the release ($resolved); nothing installed"
            return 2
        fi
    done < <(find "$1" -type l -print0)
    fail "refusing the release tarball: its symlinks cannot all be resolved"
    return 2
}

# secure_release DIR: the release dir 0755; no setuid, setgid or sticky bit and nothing group- or
# world-writable inside (symlinks have no modes of their own).
secure_release() {
    chmod 0755 -- "$1" &&
        find "$1" -mindepth 1 ! -type l -perm /7022 -exec chmod u-s,g-s,o-t,go-w -- {} +
}

# switch_current TARGET: point $PROJECT_DIR/current at TARGET (relative) atomically.
switch_current() {
    local tmp=$PROJECT_DIR/.current-tmp
    rm -f -- "$tmp"
    if ! ln -s -- "$1" "$tmp" || ! mv -T -- "$tmp" "$PROJECT_DIR/current"; then
        rm -f -- "$tmp"
        fail "cannot switch $PROJECT_DIR/current to $1"
        return 2
    fi
    # The release's mtime orders releases for pruning: the newest-switched is kept first.
    touch -c -- "$PROJECT_DIR/$1" || true
    say "current -> $1"
}

# The absolute directory that the link target $1 (relative to the project dir) names.
release_path() {
    if [[ $1 == /* ]]; then
        printf '%s' "$1"
    else
        printf '%s' "$PROJECT_DIR/$1"
    fi
}

phase_pre_deploy() {
    if ((REDEPLOY)); then
        say "deploying config revision $P_CONFIG_REVISION of $P_PROJECT $P_VERSION (running: $P_VERSION with another config; its release is reused)"
        fetch_secrets || return
        write_user_scripts "$P_VERSION" || return
    else
        say "deploying $P_PROJECT $P_VERSION (running: ${PREVIOUS_VERSION:-nothing})"
        fetch_secrets || return
        check_deb_dependencies || return
        check_free_space || return
        download_and_unpack || return
    fi
    run_user_script pre_deploy "$RELEASE_DIR" || return
}

phase_do_deploy() {
    if [[ -n $PREVIOUS_TARGET ]]; then
        run_user_script stop "$(release_path "$PREVIOUS_TARGET")" || return
    fi
    switch_current "releases/$P_VERSION" || return
    SWITCHED=1
    run_user_script start "$RELEASE_DIR" || return
}

phase_post_deploy() {
    run_user_script test "$RELEASE_DIR" || return
    run_health || return
    run_user_script post_deploy "$RELEASE_DIR" || return
    say "$P_PROJECT $P_VERSION is deployed"
}

# health, retried every P_HEALTH_INTERVAL seconds for up to P_HEALTH_TIMEOUT seconds; each
# attempt may take only what is left of that window (at least 1 s). 124 when the last attempt
# timed out.
run_health() {
    local deadline left attempts=1 rc
    if [[ ! -s $PROJECT_DIR/.fabu-scripts/$P_VERSION/health ]]; then
        return 0
    fi
    deadline=$((SECONDS + P_HEALTH_TIMEOUT))
    while true; do
        left=$((deadline - SECONDS))
        if run_user_script health "$RELEASE_DIR" "$((left < 1 ? 1 : left))"; then
            return 0
        else
            rc=$?
        fi
        if ((SECONDS + P_HEALTH_INTERVAL > deadline)); then
            if ((rc == 124)); then
                fail "health did not pass within ${P_HEALTH_TIMEOUT}s ($attempts attempts): the last attempt $FAIL_REASON"
                return 124
            fi
            fail "health did not pass within ${P_HEALTH_TIMEOUT}s ($attempts attempts)"
            return 1
        fi
        sleep "$P_HEALTH_INTERVAL"
        attempts=$((attempts + 1))
    done
}

# After a failed do-deploy or post-deploy: back to the release that ran before, restarted. The
# host moves from the failed version to the previous one: the failed release's stop sees
# FABU_VERSION = the failed version, the previous release's start its own version.
phase_auto_rollback() {
    local new=$RELEASE_DIR previous
    MOVING_TO=$MOVING_FROM
    MOVING_FROM=$P_VERSION
    say "rolling back $P_PROJECT to ${PREVIOUS_VERSION:-nothing}: $ROLLBACK_REASON"
    if ((SWITCHED)) && ! run_user_script stop "$new"; then
        warn "stop of the failed release failed too ($FAIL_REASON); going on"
    fi
    if [[ -z $PREVIOUS_TARGET ]]; then
        if ! rm -f -- "$PROJECT_DIR/current"; then
            fail "cannot remove $PROJECT_DIR/current"
            return 2
        fi
        say "no previous release: $P_PROJECT is not running"
        return 0
    fi
    previous=$(release_path "$PREVIOUS_TARGET")
    switch_current "$PREVIOUS_TARGET" || return
    run_user_script start "$previous" || return
    say "rolled back to ${PREVIOUS_VERSION:-$PREVIOUS_TARGET}"
}

# A rollback the server asked for: switch to the release already on disk and restart it.
phase_requested_rollback() {
    say "rollback of $P_PROJECT to $P_VERSION requested${P_REASON:+: $P_REASON}"
    if [[ $PREVIOUS_VERSION == "$P_VERSION" ]]; then
        say "$P_PROJECT is already running $P_VERSION"
        SKIPPED=1
        return 0
    fi
    if [[ ! -f $RELEASE_DIR/.fabu-version ]]; then
        fail "release $P_VERSION of $P_PROJECT is not on this host ($RELEASE_DIR)"
        return 2
    fi
    write_user_scripts "$P_VERSION" 1 || return 2
    fetch_secrets || return
    if [[ -n $PREVIOUS_TARGET ]] && ! run_user_script stop "$(release_path "$PREVIOUS_TARGET")"; then
        warn "stop of the running release failed ($FAIL_REASON); going on with the rollback"
    fi
    switch_current "releases/$P_VERSION" || return
    run_user_script start "$RELEASE_DIR" || return
    write_config_marker
    say "rolled back to $P_VERSION"
}

# Keep the newest P_KEEP_RELEASES releases (never current or previous), remove the others, and
# the user scripts of every release no longer on disk.
prune_releases() {
    local n=0 entry name keep_current keep_previous
    keep_current=$(readlink -- "$PROJECT_DIR/current")
    keep_current=${keep_current##*/}
    keep_previous=${PREVIOUS_TARGET##*/}
    while IFS= read -r -d '' entry; do
        name=${entry#*/}
        n=$((n + 1))
        if ((n <= P_KEEP_RELEASES)) || [[ $name == "$keep_current" || $name == "$keep_previous" ]]; then
            continue
        fi
        if rm -rf -- "$PROJECT_DIR/releases/$name"; then
            say "pruned release $name"
        else
            warn "could not prune release $name"
        fi
    done < <(find "$PROJECT_DIR/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@/%f\0' |
        sort -z -t/ -k1,1 -rn)
    for entry in "$PROJECT_DIR"/.fabu-scripts/*; do
        if [[ ! -d $PROJECT_DIR/releases/${entry##*/} ]] && ! rm -rf -- "$entry"; then
            warn "could not remove $entry"
        fi
    done
}

# --- one item ------------------------------------------------------------------------------

# A project or version is one path component: refuse what would leave $FABU_ROOT.
safe_component() {
    case $1 in
        "" | . | .. | */*) return 1 ;;
    esac
}

run_item() {
    local note rc leftovers
    PROJECT_DIR=$FABU_ROOT/$P_PROJECT
    RELEASE_DIR=$PROJECT_DIR/releases/$P_VERSION
    if ! safe_component "$P_PROJECT" || ! safe_component "$P_VERSION"; then
        note=$WORK/refused.txt
        printf 'fabu: error: refusing project %q version %q: each must be one path component\n' \
            "$P_PROJECT" "$P_VERSION" | tee -- "$note" >&2
        report "$P_PROJECT" "$P_VERSION" "$P_DEPLOY_ID" pre-deploy failed 2 "$note" || true
        return 2
    fi
    if [[ ! -d $PROJECT_DIR/releases ]] && ! mkdir -p -- "$PROJECT_DIR/releases"; then
        note=$WORK/refused.txt
        printf 'fabu: error: cannot create %s\n' "$PROJECT_DIR/releases" | tee -- "$note" >&2
        report "$P_PROJECT" "$P_VERSION" "$P_DEPLOY_ID" pre-deploy failed 2 "$note" || true
        return 2
    fi
    leftovers=("$PROJECT_DIR"/.unpack-*)
    if ((${#leftovers[@]})); then
        rm -rf -- "${leftovers[@]}"   # from a run that died while unpacking
    fi
    adopt_old_scripts
    read_running_version "$PROJECT_DIR"
    PREVIOUS_VERSION=$RUNNING_VERSION
    RUNNING_CONFIG=""
    if [[ -f $PROJECT_DIR/.fabu-config ]]; then
        IFS= read -r RUNNING_CONFIG <"$PROJECT_DIR/.fabu-config" || true
    fi
    PREVIOUS_TARGET=""
    if [[ -L $PROJECT_DIR/current ]]; then
        PREVIOUS_TARGET=$(readlink -- "$PROJECT_DIR/current")
    fi
    # This step moves the host from the running version (or release) to the item's version.
    MOVING_FROM=${PREVIOUS_TARGET##*/}
    MOVING_FROM=${PREVIOUS_VERSION:-$MOVING_FROM}
    MOVING_TO=$P_VERSION
    SWITCHED=0
    if [[ $P_KIND == rollback ]]; then
        run_phase rollback phase_requested_rollback
        rc=$?
    else
        run_deploy
        rc=$?
    fi
    rm -f -- "$PROJECT_DIR/.fabu-inflight"
    SECRET_VALUES=()
    MASKS=()
    return "$rc"
}

# A host already on the item's version deploys it again only for another config (a config
# revision: REDEPLOY, its release on disk reused), else it skips.
run_deploy() {
    local rc note
    REDEPLOY=0
    if [[ -n $PREVIOUS_VERSION && $PREVIOUS_VERSION == "$P_VERSION" && $RUNNING_CONFIG != "$P_CONFIG_HASH" ]]; then
        if [[ -f $RELEASE_DIR/.fabu-version ]]; then
            REDEPLOY=1
        fi
    elif [[ -n $PREVIOUS_VERSION && $PREVIOUS_VERSION == "$P_VERSION" ]]; then
        note=$WORK/skipped.txt
        printf 'fabu: %s is already running %s; nothing to do\n' "$P_PROJECT" "$P_VERSION" | tee -- "$note"
        report "$P_PROJECT" "$P_VERSION" "$P_DEPLOY_ID" pre-deploy skipped 0 "$note" || true
        return 0
    fi
    run_phase pre-deploy phase_pre_deploy || return
    if run_phase do-deploy phase_do_deploy && run_phase post-deploy phase_post_deploy; then
        write_config_marker
        prune_releases
        return 0
    else
        rc=$?
    fi
    if ((P_AUTO_ROLLBACK)); then
        ROLLBACK_REASON="$CURRENT_PHASE failed: $FAIL_REASON"
        run_phase rollback phase_auto_rollback || true
    fi
    return "$rc"
}

main() {
    local i rc cmd
    for cmd in curl tar sha256sum base64 mktemp find sort df awk wc tail tr timeout realpath; do
        need_cmd "$cmd"
    done
    if [[ -z ${FABU_API_URL:-} || -z ${FABU_REGION:-} ]]; then
        err "FABU_API_URL and FABU_REGION must be set (fabu-agent.sh sets them)"
    fi
    if [[ -z ${AWS_ACCESS_KEY_ID:-} || -z ${AWS_SECRET_ACCESS_KEY:-} ]]; then
        err "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (fabu-agent.sh sets them)"
    fi
    FABU_ROOT=${FABU_ROOT:-/opt/fabu}
    # Seconds between the TERM and the KILL of a user script that ran out of time.
    FABU_KILL_GRACE=${FABU_KILL_GRACE:-10}
    if [[ ! $FABU_KILL_GRACE =~ ^[0-9]{1,3}$ ]] || ((FABU_KILL_GRACE < 1 || FABU_KILL_GRACE > 300)); then
        err "FABU_KILL_GRACE must be a whole number of seconds from 1 to 300, not '$FABU_KILL_GRACE'"
    fi
    ensure mkdir -p -- "$FABU_ROOT"
    WORK=$(mktemp -d) || err "cannot create a temporary directory"
    trap 'rm -rf -- "$WORK"' EXIT
    shopt -s nullglob dotglob
    say "fabu deploy script for $FABU_SCRIPT_HOST, generated $FABU_SCRIPT_GENERATED_AT: $FABU_ITEM_COUNT item(s)"
    report_interrupted_deploys
    for ((i = 1; i <= FABU_ITEM_COUNT; i++)); do
        load_item "$i" || err "no item $i in this script"
        if run_item; then
            continue
        else
            rc=$?
        fi
        if ((i < FABU_ITEM_COUNT)); then
            warn "stopping here: the remaining $((FABU_ITEM_COUNT - i)) project(s) stay pending"
        fi
        # A user script that ran out of time failed like any other (its report says 124).
        return "$((rc == 124 ? 1 : rc))"
    done
}
