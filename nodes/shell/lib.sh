# Shared by the shell node's scripts (sourced). POSIX sh and busybox applets only.

now() { busybox date -u +%Y-%m-%dT%H:%M:%SZ; }

# put FILE VALUE: writes a one-line file by rename, so a reader sees the old value or the new one, never half.
put() { printf '%s\n' "$2" >"$1.$$.tmp" && mv -f "$1.$$.tmp" "$1"; }

# group_alive PGID: is any live (not zombie) process left in the process group? Orphaned processes may stay
# zombies for a while where nothing reaps them, so kill -0 alone would wait for ever.
group_alive() {
    cat /proc/[0-9]*/stat 2>/dev/null | busybox awk -v g="$1" '
        { s = $0; sub(/^.*\) /, "", s); split(s, f, " "); if (f[3] == g && f[1] != "Z" && f[1] != "X") { found = 1; exit } }
        END { exit !found }'
}

# stop_group PGID: SIGTERM to the whole group, SIGKILL to whatever is left after a short grace.
stop_group() {
    kill -TERM "-$1" 2>/dev/null || return 0
    n=0
    while group_alive "$1" && [ "$n" -lt 50 ]; do busybox sleep 0.1; n=$((n + 1)); done
    group_alive "$1" || return 0
    kill -KILL "-$1" 2>/dev/null
    n=0
    while group_alive "$1" && [ "$n" -lt 50 ]; do busybox sleep 0.1; n=$((n + 1)); done
}

# stop_watchdog JOB: the job ended by itself, so its timeout watchdog (a session of its own) is not needed.
stop_watchdog() {
    [ -f "$1/watchdog" ] || return 0
    IFS= read -r w <"$1/watchdog" || :
    [ -n "$w" ] && kill -TERM "-$w" 2>/dev/null
    return 0
}
