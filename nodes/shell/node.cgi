#!/bin/sh
# The Drover node protocol (docs/node-protocol.md) as one CGI script under busybox httpd. httpd runs it for
# every URL under /cgi-bin/drover/ and hands over the rest of the path as PATH_INFO (/processor/jobs/new, ...).
# State is kept as the seed draws it: <state>/processor/job/<request_id>/{spec.json,status,log,exit_code,work/}.
# Nothing a request sends is ever evaluated by a shell: values are expanded only inside double quotes, written
# to files by json.awk, and commands run from their argv (see job-runner).
set -u
umask 077
home=${DROVER_SHELL_NODE_HOME:?the launcher sets DROVER_SHELL_NODE_HOME}
state=${DROVER_SHELL_NODE_STATE:?the launcher sets DROVER_SHELL_NODE_STATE}
. "$home/lib.sh"
jobs=$state/processor/job
max_body=${DROVER_SHELL_NODE_MAX_BODY:-1048576}
features='"log_follow"'

# --- answers ----------------------------------------------------------------------------------------------

# begin CODE REASON CONTENT-TYPE [HEADER...]
begin() {
    printf 'Status: %s %s\r\nContent-Type: %s\r\n' "$1" "$2" "$3"
    shift 3
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
}

# problem CODE REASON TITLE [FIELD MESSAGE [HEADER...]]: an RFC 7807 answer, then the end of this request.
# TITLE, FIELD and MESSAGE are JSON-safe already (constants, or escaped by json.awk).
problem() {
    code=$1 reason=$2 title=$3
    field=${4:-} message=${5:-}
    [ $# -ge 5 ] && shift 5 || shift $#
    begin "$code" "$reason" 'application/problem+json' "$@"
    printf '{"type":"about:blank","title":"%s","status":%s' "$title" "$code"
    [ -n "$field" ] && printf ',"errors":{"%s":["%s"]}' "$field" "$message"
    printf '}\n'
    exit 0
}

not_found() { problem 404 'Not Found' 'No such job' request_id "this node has no job '$1'"; }

only() {
    [ "${REQUEST_METHOD:-GET}" = "$1" ] && return 0
    problem 405 'Method Not Allowed' "use $1 here" '' '' "Allow: $1"
}

# status_json ID: the status document of a known job.
status_json() {
    JOBS=$jobs busybox awk -f "$home/status.awk" <<EOF
$1
EOF
}

safe_id() {
    case $1 in '' | .* | *[!A-Za-z0-9._-]*) return 1 ;; esac
    [ ${#1} -le 128 ]
}

# read_body FILE: the request body into FILE, refused when too big, cut short or holding NUL bytes.
read_body() {
    len=${CONTENT_LENGTH:-0}
    case $len in '' | *[!0-9]*) problem 400 'Bad Request' 'The request is invalid' Content-Length 'Content-Length is not a number' ;; esac
    [ "$len" -le "$max_body" ] || problem 413 'Payload Too Large' 'The request body is too large' body "the body is over this node's limit of $max_body bytes"
    head -c "$len" >"$1"
    # Counted without NUL bytes: short of Content-Length means cut short, or NULs that no JSON string may hold.
    [ "$(($(tr -d '\000' <"$1" | wc -c)))" -eq "$len" ] || problem 400 'Bad Request' 'The request is not a valid job' body 'the body is shorter than its Content-Length, or holds NUL bytes'
}

# query_values NAME: every value of NAME in the query string, one per line, URL-decoded.
query_values() {
    set -f
    old_ifs=$IFS
    IFS='&'
    for pair in ${QUERY_STRING:-}; do
        case $pair in "$1="*) busybox httpd -d "${pair#*=}"; echo ;; esac
    done
    IFS=$old_ifs
    set +f
}

# --- calls ------------------------------------------------------------------------------------------------

info() {
    only GET
    name=${DROVER_SHELL_NODE_NAME:-$(hostname)}
    running=$(cat "$jobs"/*/state 2>/dev/null | grep -c '^running$')
    ipv4=$(busybox ip -o -4 addr show 2>/dev/null | busybox awk '$4 !~ /^127\./ { split($4, a, "/"); printf "%s\"%s\"", n++ ? "," : "", a[1] }')
    [ -n "$ipv4" ] || ipv4='"127.0.0.1"'
    begin 200 OK 'application/json; charset=utf-8'
    printf '{"name":"%s","hostname":"%s","ipv4":[%s],"uri":"%s","labels":{},"slots":%s,"running":%s,"features":[%s]}\n' \
        "$name" "$(hostname)" "$ipv4" "${DROVER_SHELL_NODE_URI:-}" "$(nproc)" "$running" "$features"
}

create() {
    only POST
    case ${CONTENT_TYPE:-application/json} in
        [Aa]pplication/json* | *+json | *+json\;*) ;;
        multipart/*) problem 415 'Unsupported Media Type' 'Unsupported content type' Content-Type 'this node takes no file uploads (it does not offer the multipart feature): send the job as application/json' ;;
        *) problem 415 'Unsupported Media Type' 'Unsupported content type' Content-Type 'send the job as application/json' ;;
    esac
    # The job is assembled in a temporary directory and renamed into place whole: a bad body leaves nothing
    # behind, and a reader never sees half a job.
    t=$state/processor/tmp/new.$$
    trap 'rm -rf "$t"' EXIT
    # A directory left by a request that was killed half-way, under a pid used again, is stale.
    mkdir "$t" "$t/argv" "$t/env" "$t/work" 2>/dev/null || { rm -rf "$t" && mkdir "$t" "$t/argv" "$t/env" "$t/work"; } ||
        problem 500 'Internal Server Error' 'cannot write the state directory'
    read_body "$t/spec.json"
    if ! out=$(JOB_DIR=$t busybox awk -v mode=spec -f "$home/json.awk" <"$t/spec.json"); then
        problem 400 'Bad Request' 'The request is not a valid job' "${out%%	*}" "${out#*	}"
    fi
    id='' timeout=''
    while IFS='	' read -r key value; do
        case $key in request_id) id=$value ;; timeout) timeout=$value ;; esac
    done <<EOF
$out
EOF
    if [ -z "$id" ]; then
        set -- $(busybox od -An -N8 -tx4 /dev/urandom)
        id=$1$2
    fi
    # Nobody reads the temporary directory: plain writes do.
    [ -n "$timeout" ] && printf '%s\n' "$timeout" >"$t/timeout"
    : >"$t/log"
    now >"$t/created_at"
    echo unknown >"$t/status"
    echo queued >"$t/state"
    # rename(2) onto an existing job fails: the same request_id never starts a second run.
    if mv -T "$t" "$jobs/$id" 2>/dev/null; then
        busybox setsid "$home/job-runner" "$jobs/$id" </dev/null >/dev/null 2>&1 &
        begin 201 Created 'application/json; charset=utf-8' "Location: ${SCRIPT_NAME:-}/processor/jobs/$id/status"
    elif [ -f "$jobs/$id/state" ]; then
        begin 200 OK 'application/json; charset=utf-8' "Location: ${SCRIPT_NAME:-}/processor/jobs/$id/status"
    else
        problem 500 'Internal Server Error' 'cannot record the job'
    fi
    status_json "$id"
}

list() {
    only GET
    begin 200 OK 'application/json; charset=utf-8'
    case "&${QUERY_STRING:-}" in
        *"&request_id="*) filtered=1 ;;
        *) filtered= ;;
    esac
    if [ -n "$filtered" ]; then
        # Only the ids asked for; unknown and unsafe ones are left out.
        query_values request_id | tr , "\n" | while IFS= read -r id; do safe_id "$id" && [ -d "$jobs/$id" ] && printf '%s\n' "$id"; done
    else
        for d in "$jobs"/*; do [ -d "$d" ] && printf '%s\n' "${d##*/}"; done
    fi | JOBS=$jobs busybox awk -v list=1 -f "$home/status.awk"
}

job_status() {
    case ${REQUEST_METHOD:-GET} in
        GET) ;;
        POST) progress "$1" ;;
        *) problem 405 'Method Not Allowed' 'use GET or POST here' '' '' 'Allow: GET, POST' ;;
    esac
    begin 200 OK 'application/json; charset=utf-8'
    status_json "$1"
}

progress() {
    t=$(mktemp "$state/processor/tmp/message.XXXXXX") || problem 500 'Internal Server Error' 'cannot write the state directory'
    trap 'rm -f "$t"' EXIT
    case ${CONTENT_TYPE:-} in
        [Tt]ext/plain*) mode=escape ;;
        *) mode=message ;;
    esac
    read_body "$t"
    if ! out=$(busybox awk -v mode=$mode -f "$home/json.awk" <"$t"); then
        problem 400 'Bad Request' 'The request is invalid' "${out%%	*}" "${out#*	}"
    fi
    put "$jobs/$1/message" "$out"
}

job_log() {
    only GET
    offset=$(query_values offset | head -n 1)
    follow=$(query_values follow | head -n 1)
    case ${offset:-0} in *[!0-9]* | ????????????????*) problem 400 'Bad Request' 'The request is invalid' offset 'offset is a number of bytes' ;; esac
    offset=${offset:-0}
    case $follow in
        [Tt][Rr][Uu][Ee]) follow=true ;;
        '' | [Ff][Aa][Ll][Ss][Ee]) follow= ;;
        *) problem 400 'Bad Request' 'The request is invalid' follow 'follow is true or false' ;;
    esac
    log=$jobs/$1/log
    begin 200 OK 'text/plain; charset=utf-8'
    if [ "$follow" != true ]; then
        tail -c +$((offset + 1)) "$log"
        return
    fi
    # Streams what the job writes until it stops (feature log_follow); httpd passes each chunk on at once.
    while :; do
        IFS= read -r st <"$jobs/$1/state" || :
        size=$(($(wc -c <"$log")))
        if [ "$size" -gt "$offset" ]; then
            tail -c +$((offset + 1)) "$log" | head -c $((size - offset))
            offset=$size
        elif [ "$st" = stopped ]; then
            return
        fi
        [ "$st" = stopped ] || busybox sleep 0.2
    done
}

job_kill() {
    only POST
    if ! "$home/job-stop" "$jobs/$1" killed; then
        # The job ended by itself, or another stop owns it: answer once it has stopped.
        n=0
        while [ "$n" -lt 300 ]; do
            IFS= read -r st <"$jobs/$1/state" || :
            [ "$st" = stopped ] && break
            busybox sleep 0.1
            n=$((n + 1))
        done
    fi
    begin 200 OK 'application/json; charset=utf-8'
    status_json "$1"
}

# --- routing ----------------------------------------------------------------------------------------------

# The same browser checks as every Drover service (README, Security). A Host outside the allow-list is refused
# unless every call needs the token (a page re-pointed here by DNS cannot send it): loopback names and addresses,
# and --allowed-hosts.
token_file=${DROVER_SHELL_NODE_TOKEN_FILE:-}
expected=
[ -n "$token_file" ] && { IFS= read -r expected <"$token_file" || :; }
host=${HTTP_HOST:-}
case $host in
    \[*\]:* | \[*\]) host=${host%%]*}; host=${host#?} ;;
    *) host=${host%:*} ;;
esac
# In a subshell: set -f (no globbing of the configured names) ends with it.
host_allowed() (
    [ -n "$expected" ] && [ -z "${DROVER_SHELL_NODE_ALLOWED_HOSTS:-}" ] && return 0
    [ -z "${HTTP_HOST:-}" ] && return 0
    h=$(printf '%s' "$host" | tr 'A-Z' 'a-z')
    case $h in localhost | *.localhost | ::1) return 0 ;; esac
    # 127.0.0.0/8 as an address; "127.0.0.1.nip.io" is a name that anyone can point anywhere.
    case $h in 127.*[!0-9.]*) ;; 127.*) return 0 ;; esac
    set -f
    for allowed in $(printf '%s' "${DROVER_SHELL_NODE_ALLOWED_HOSTS:-}" | tr ',;' '  ' | tr 'A-Z' 'a-z'); do
        case $allowed in
            '*') return 0 ;;
            '*.'*) case $h in *"${allowed#\*}") return 0 ;; esac ;;
            "$h") return 0 ;;
        esac
    done
    return 1
)
host_allowed || problem 421 'Misdirected Request' 'Unknown host' Host 'this node does not answer to that host: call it by a loopback address or add the name to --allowed-hosts'

# A state-changing call from a page of another site: its Origin is not this node's own (nor in --allowed-origins),
# or the browser says it is cross-site. curl and the scheduler send neither header.
case ${REQUEST_METHOD:-GET} in
    GET | HEAD | OPTIONS) ;;
    *)
        origin=${HTTP_ORIGIN:-}
        allowed_origin=
        set -f
        for o in $(printf '%s' "${DROVER_SHELL_NODE_ALLOWED_ORIGINS:-}" | tr ',;' '  '); do
            [ "$origin" = "${o%/}" ] && allowed_origin=1
        done
        set +f
        if [ -z "$allowed_origin" ]; then
            if [ -n "$origin" ]; then
                authority=${origin#http://}
                authority=${authority#https://}
                case $origin in http://* | https://*) ;; *) authority= ;; esac
                [ -n "$authority" ] && [ "$(printf '%s' "$authority" | tr 'A-Z' 'a-z')" = "$(printf '%s' "${HTTP_HOST:-}" | tr 'A-Z' 'a-z')" ] ||
                    problem 403 Forbidden 'Cross-site request refused' Origin 'a web page of another origin may not change anything here'
            fi
            case ${HTTP_SEC_FETCH_SITE:-} in
                [Cc][Rr][Oo][Ss][Ss]-[Ss][Ii][Tt][Ee]) problem 403 Forbidden 'Cross-site request refused' Sec-Fetch-Site 'a web page of another site may not change anything here' ;;
            esac
        fi
        ;;
esac

# The node keeps only the SHA-256 of its token, and compares digests: the time a comparison takes says nothing
# about how much of a guess was right, and a job that finds the file learns nothing it can send.
given=
case ${HTTP_AUTHORIZATION:-} in [Bb][Ee][Aa][Rr][Ee][Rr]' '*) given=${HTTP_AUTHORIZATION#???????} ;; esac
if [ -n "$expected" ]; then
    digest=$(printf '%s' "$given" | busybox sha256sum)
    [ "${digest%% *}" = "$expected" ] || problem 401 Unauthorized 'a bearer token is required' '' '' 'WWW-Authenticate: Bearer'
fi

path=${PATH_INFO:-}
# The seed spells the calls both /processor/job/... and /processor/jobs/...
case $path in /processor/job/*) path=/processor/jobs/${path#/processor/job/} ;; esac

case $path in
    /processor/info) info ;;
    /processor/jobs/new) create ;;
    /processor/jobs/status) list ;;
    /processor/jobs/*/status | /processor/jobs/*/log | /processor/jobs/*/kill)
        rest=${path#/processor/jobs/}
        id=${rest%/*}
        if ! safe_id "$id" || [ ! -f "$jobs/$id/state" ]; then not_found "$(printf '%s' "$id" | busybox awk -v mode=escape -f "$home/json.awk")"; fi
        case ${rest##*/} in
            status) job_status "$id" ;;
            log) job_log "$id" ;;
            kill) job_kill "$id" ;;
        esac
        ;;
    *) problem 404 'Not Found' 'no such call in the node protocol' ;;
esac
