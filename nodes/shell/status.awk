# Prints the node protocol's job status document of each job whose request_id is on a line of the input, read
# from the one-line files its directory holds (state, status, reason, exit_code, *_at, message).
# Usage: JOBS=<state>/processor/job busybox awk [-v list=1] -f status.awk
# With list=1 the documents are wrapped as {"jobs": [...]}; ids without a job are left out.
{
    doc = status(ENVIRON["JOBS"] "/" $0, $0)
    if (doc != "") out = out (out == "" ? "" : ",") doc
}

END {
    if (list) print "{\"jobs\":[" out "]}"
    else if (out != "") print out
}

function field(path,   line) {
    line = ""
    if ((getline line < path) <= 0) line = ""
    close(path)
    return line
}

function status(d, id,   state, status, doc, v) {
    # The state is read first and written last, so a stopped job's other fields are already final.
    state = field(d "/state")
    if (state == "") return ""
    status = state == "stopped" ? field(d "/status") : "unknown"
    doc = "{\"request_id\":\"" id "\",\"state\":\"" state "\",\"status\":\"" status "\""
    if (state == "stopped" && (v = field(d "/exit_code")) != "") doc = doc ",\"exit_code\":" v
    doc = doc ",\"created_at\":\"" field(d "/created_at") "\""
    if ((v = field(d "/started_at")) != "") doc = doc ",\"started_at\":\"" v "\""
    if (state == "stopped" && (v = field(d "/finished_at")) != "") doc = doc ",\"finished_at\":\"" v "\""
    if (state == "stopped" && (v = field(d "/reason")) != "") doc = doc ",\"reason\":\"" v "\""
    if ((v = field(d "/message")) != "") doc = doc ",\"message\":\"" v "\""
    return doc "}"
}
