# A strict reader for exactly the JSON the node protocol sends a node, in busybox awk.
#
#   mode=spec     (with JOB_DIR in the environment) a job spec: {"commands": [...], "environment": {...}, "request_id": "...", "timeout_seconds": N}
#                 Writes each argv element to $JOB_DIR/argv/<command>.<argument> and each environment value to
#                 $JOB_DIR/env/<NAME>, byte for byte, and prints "request_id<TAB>id" and "timeout<TAB>seconds".
#   mode=message  a progress message: {"message": "..."}; prints the message JSON-escaped on one line.
#   mode=escape   prints the whole input JSON-escaped on one line (for text/plain progress messages).
#
# Anything it cannot read exactly is refused: it prints "<field><TAB><what is wrong>" (both JSON-escaped) and
# exits 2, and the caller answers 400. It never guesses: no NUL (\u0000), no lone surrogates, no raw control
# characters inside strings, no duplicate keys, no trailing data.

BEGIN {
    ctl = ""
    for (i = 1; i < 32; i++) ctl = ctl sprintf("%c", i)
    special = "[\"\\\\" sprintf("%c-%c", 1, 31) "]"
    hexdigits = "0123456789abcdef"
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    replacement = sprintf("%c%c%c", 239, 191, 189) # U+FFFD
    dir = ENVIRON["JOB_DIR"]
    # The whole body is one record: \001 may not appear in JSON outside a string, nor raw inside one.
    RS = sprintf("%c", 1)
}

NR == 1 { s = $0 }
NR > 1 { s = "" }

END {
    if (NR > 1) fail("body", "invalid JSON: control characters must be escaped in strings")
    n = length(s); p = 1
    if (mode == "escape") { sub(/[\r\n]+$/, "", s); print_message(s); exit 0 }
    if (mode == "message") { read_message(); exit 0 }
    read_spec()
    exit 0
}

function fail(field, msg) {
    printf "%s\t%s\n", jesc(field), jesc(msg)
    exit 2
}

function jesc(v,   out, c, k) {
    v = utf8_clean(v)
    out = ""
    while (match(v, special)) {
        out = out substr(v, 1, RSTART - 1)
        c = substr(v, RSTART, 1)
        if (c == "\"") out = out "\\\""
        else if (c == "\\") out = out "\\\\"
        else if (c == "\n") out = out "\\n"
        else if (c == "\r") out = out "\\r"
        else if (c == "\t") out = out "\\t"
        else { k = index(ctl, c); out = out sprintf("\\u%04x", k) }
        v = substr(v, RSTART + 1)
    }
    return out v
}

# Every byte that does not begin a well-formed UTF-8 sequence (overlong, surrogate, past U+10FFFF, cut short) becomes
# U+FFFD, so that all the JSON this node writes is valid UTF-8: a reader may refuse anything else (issue 12).
function utf8_clean(v,   out, i, len, c, b, need, j, lo, hi, ok, next_b) {
    out = ""
    len = length(v)
    for (i = 1; i <= len; i++) {
        c = substr(v, i, 1)
        b = ord[c]
        if (b < 128) { out = out c; continue }
        if (b >= 194 && b <= 223) need = 1
        else if (b >= 224 && b <= 239) need = 2
        else if (b >= 240 && b <= 244) need = 3
        else { out = out replacement; continue }
        lo = 128; hi = 191
        if (b == 224) lo = 160
        else if (b == 237) hi = 159
        else if (b == 240) lo = 144
        else if (b == 244) hi = 143
        ok = 1
        for (j = 1; j <= need; j++) {
            next_b = ord[substr(v, i + j, 1)] + 0
            if (next_b < (j == 1 ? lo : 128) || next_b > (j == 1 ? hi : 191)) { ok = 0; break }
        }
        if (ok) { out = out substr(v, i, need + 1); i += need }
        else out = out replacement
    }
    return out
}

function ws(   c) {
    while (p <= n) {
        c = substr(s, p, 1)
        if (c != " " && c != "\t" && c != "\n" && c != "\r") break
        p++
    }
}

function peek() { ws(); return p <= n ? substr(s, p, 1) : "" }

function expect(ch, field) {
    if (peek() != ch) fail(field, "invalid JSON: expected '" ch "'" where())
    p++
}

function where(   c) {
    if (p > n) return " but the body ended"
    c = substr(s, p, 12)
    gsub(/[^ -~]/, "?", c)
    return " at byte " (p - 1) " (\"" c "\")"
}

function hexval(h,   v, i, d) {
    v = 0
    for (i = 1; i <= 4; i++) {
        d = index(hexdigits, tolower(substr(h, i, 1)))
        if (d == 0) return -1
        v = v * 16 + d - 1
    }
    return v
}

function utf8(cp) {
    if (cp < 128) return sprintf("%c", cp)
    if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
    if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
    return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}

# A JSON string, decoded to its bytes.
function str(field,   out, c, rest, run, cp, lo) {
    if (peek() != "\"") fail(field, "expected a string" where())
    p++
    out = ""
    while (1) {
        if (p > n) fail(field, "invalid JSON: unterminated string")
        # A window, not the rest of the body: a body of many strings stays linear.
        rest = substr(s, p, 4096)
        if (match(rest, special)) run = substr(rest, 1, RSTART - 1)
        else run = rest
        out = out run
        p += length(run)
        if (p > n) fail(field, "invalid JSON: unterminated string")
        c = substr(s, p, 1)
        if (c == "\"") { p++; return out }
        if (c != "\\") fail(field, "invalid JSON: control characters must be escaped in strings")
        c = substr(s, p + 1, 1)
        p += 2
        if (c == "\"" || c == "\\" || c == "/") out = out c
        else if (c == "n") out = out "\n"
        else if (c == "t") out = out "\t"
        else if (c == "r") out = out "\r"
        else if (c == "b") out = out sprintf("%c", 8)
        else if (c == "f") out = out sprintf("%c", 12)
        else if (c == "u") {
            cp = hexval(substr(s, p, 4))
            if (cp < 0 || length(substr(s, p, 4)) < 4) fail(field, "invalid JSON: \\u needs four hex digits")
            p += 4
            if (cp == 0) fail(field, "NUL characters (\\u0000) are not allowed")
            if (cp >= 56320 && cp <= 57343) fail(field, "invalid JSON: lone low surrogate")
            if (cp >= 55296 && cp <= 56319) {
                lo = substr(s, p, 2) == "\\u" ? hexval(substr(s, p + 2, 4)) : -1
                if (lo < 56320 || lo > 57343) fail(field, "invalid JSON: lone high surrogate")
                p += 6
                cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
            }
            out = out utf8(cp)
        }
        else fail(field, "invalid JSON: unknown escape \\" c)
    }
}

function number(field,   rest) {
    ws()
    rest = substr(s, p, 400)
    if (!match(rest, /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/) || RLENGTH == 400) fail(field, "expected a number" where())
    p += RLENGTH
    return substr(rest, 1, RLENGTH)
}

function literal(word, field) {
    ws()
    if (substr(s, p, length(word)) != word) fail(field, "invalid JSON" where())
    p += length(word)
}

# Any JSON value, checked and thrown away (for fields this node does not use).
function skip(field,   c) {
    c = peek()
    if (c == "\"") { str(field); return }
    if (c == "{") {
        p++
        if (peek() == "}") { p++; return }
        while (1) {
            str(field); expect(":", field); skip(field)
            c = peek()
            if (c == ",") { p++; continue }
            if (c == "}") { p++; return }
            fail(field, "invalid JSON: expected ',' or '}'" where())
        }
    }
    if (c == "[") {
        p++
        if (peek() == "]") { p++; return }
        while (1) {
            skip(field)
            c = peek()
            if (c == ",") { p++; continue }
            if (c == "]") { p++; return }
            fail(field, "invalid JSON: expected ',' or ']'" where())
        }
    }
    if (c == "t") { literal("true", field); return }
    if (c == "f") { literal("false", field); return }
    if (c == "n") { literal("null", field); return }
    number(field)
}

function write_file(path, value) {
    printf "%s", value > path
    close(path)
}

function argv(i, field,   c, j, v) {
    if (peek() != "[") fail(field, "an argv is an array of strings, e.g. [\"echo\", \"hello\"]")
    p++
    j = 0
    if (peek() == "]") { p++; fail(field, "an argv needs at least a program name") }
    while (1) {
        if (peek() != "\"") fail(field "[" j "]", "every argv element is a string")
        v = str(field "[" j "]")
        if (j == 0 && v == "") fail(field, "an argv needs at least a program name")
        write_file(dir "/argv/" i "." j, v)
        j++
        c = peek()
        if (c == ",") { p++; continue }
        if (c == "]") { p++; return }
        fail(field, "invalid JSON: expected ',' or ']'" where())
    }
}

function command(i,   field, c, key, seen, line) {
    field = "commands[" i "]"
    c = peek()
    if (c == "[") { argv(i, field ".exec"); return }
    if (c != "{") fail(field, "a command is an object: {\"exec\": [\"program\", \"arg\"]} or {\"shell\": \"line\"}")
    p++
    if (peek() == "}") fail(field, "a command needs \"exec\" (or \"command\") or \"shell\"")
    while (1) {
        key = str(field)
        expect(":", field)
        if (key == "exec" || key == "command") {
            if (seen) fail(field, "a command is either \"exec\" (or \"command\") or \"shell\", once")
            seen = 1
            argv(i, field ".exec")
        } else if (key == "shell") {
            if (seen) fail(field, "a command is either \"exec\" (or \"command\") or \"shell\", once")
            seen = 1
            if (peek() != "\"") fail(field ".shell", "\"shell\" is a string")
            line = str(field ".shell")
            if (line !~ /[^ \t\r\n]/) fail(field ".shell", "a shell line must not be empty")
            write_file(dir "/argv/" i ".0", "/bin/sh")
            write_file(dir "/argv/" i ".1", "-c")
            write_file(dir "/argv/" i ".2", line)
        } else {
            fail(field, "unknown command field \"" key "\": use \"exec\" (or \"command\") or \"shell\"")
        }
        c = peek()
        if (c == ",") { p++; continue }
        if (c == "}") { p++; return }
        fail(field, "invalid JSON: expected ',' or '}'" where())
    }
}

function commands(   c, i) {
    if (peek() == "n") fail("commands", "at least one command is required, e.g. [{\"exec\": [\"echo\", \"hello\"]}]")
    if (peek() != "[") fail("commands", "commands is an array, e.g. [{\"exec\": [\"echo\", \"hello\"]}]")
    p++
    if (peek() == "]") fail("commands", "at least one command is required, e.g. [{\"exec\": [\"echo\", \"hello\"]}]")
    i = 0
    while (1) {
        command(i)
        i++
        c = peek()
        if (c == ",") { p++; continue }
        if (c == "]") { p++; return i }
        fail("commands", "invalid JSON: expected ',' or ']'" where())
    }
}

function environment(   c, name, field, seen) {
    if (peek() != "{") fail("environment", "environment is an object of strings, e.g. {\"A\": \"1\"}")
    p++
    if (peek() == "}") { p++; return }
    while (1) {
        name = str("environment")
        field = "environment." name
        if (name !~ /^[A-Za-z_][A-Za-z0-9_]*$/) fail(field, "environment variable names are letters, digits and '_', not starting with a digit")
        if (name in seen) fail(field, "given twice")
        seen[name] = 1
        expect(":", field)
        if (peek() != "\"") fail(field, "environment values are strings")
        write_file(dir "/env/" name, str(field))
        c = peek()
        if (c == ",") { p++; continue }
        if (c == "}") { p++; return }
        fail("environment", "invalid JSON: expected ',' or '}'" where())
    }
}

function read_spec(   c, key, seen, rid, timeout, t) {
    if (peek() != "{") fail("body", "the body is a JSON object: {\"commands\": [{\"exec\": [\"echo\", \"hello\"]}]}")
    p++
    rid = ""; timeout = ""
    if (peek() != "}") {
        while (1) {
            key = str("body")
            if (key in seen) fail(key, "given twice")
            seen[key] = 1
            expect(":", key)
            if (key == "commands") commands()
            else if (key == "environment") environment()
            else if (key == "request_id") {
                if (peek() == "n") literal("null", key)
                else {
                    rid = str(key)
                    if (rid !~ /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/ || length(rid) > 128)
                        fail(key, "request_id must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.'")
                }
            } else if (key == "timeout_seconds") {
                if (peek() == "n") literal("null", key)
                else {
                    t = number(key)
                    if (t + 0 <= 0) fail(key, "timeout_seconds must be a positive number of seconds")
                    # Longer than a century is no timeout at all: cap it so sleep gets a plain number.
                    timeout = t + 0 > 3153600000 ? "3153600000" : sprintf("%.3f", t + 0)
                }
            } else skip(key)
            c = peek()
            if (c == ",") { p++; continue }
            if (c == "}") { p++; break }
            fail("body", "invalid JSON: expected ',' or '}'" where())
        }
    } else p++
    if (peek() != "") fail("body", "invalid JSON: data after the object" where())
    if (!("commands" in seen)) fail("commands", "at least one command is required, e.g. [{\"exec\": [\"echo\", \"hello\"]}]")
    printf "request_id\t%s\ntimeout\t%s\n", rid, timeout
}

function read_message(   c, key, seen, msg, have) {
    if (peek() != "{") fail("body", "the body is {\"message\": \"...\"} or text/plain")
    p++
    msg = ""
    if (peek() != "}") {
        while (1) {
            key = str("body")
            if (key in seen) fail(key, "given twice")
            seen[key] = 1
            expect(":", key)
            if (key == "message") {
                if (peek() == "n") literal("null", key)
                else { msg = str(key); have = 1 }
            } else skip(key)
            c = peek()
            if (c == ",") { p++; continue }
            if (c == "}") { p++; break }
            fail("body", "invalid JSON: expected ',' or '}'" where())
        }
    } else p++
    if (peek() != "") fail("body", "invalid JSON: data after the object" where())
    if (!have) fail("message", "send {\"message\": \"...\"} or a text/plain body")
    print_message(msg)
}

function print_message(m) {
    if (length(m) > 4096) fail("message", "a message is at most 4096 bytes")
    print jesc(m)
}
