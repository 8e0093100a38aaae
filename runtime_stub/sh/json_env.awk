function err(m) { printf "af_die %s\n", q("invalid JSON in " src ": " m); exit }
function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
function ws() { while (P <= N && index(" \t\r\n", substr(S, P, 1))) P++ }
function utf8(n) {
    if (n < 128) return sprintf("%c", n)
    if (n < 2048) return sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
    if (n < 65536) return sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
    return sprintf("%c%c%c%c", 240 + int(n / 262144), 128 + int(n / 4096) % 64, 128 + int(n / 64) % 64, 128 + n % 64)
}
function hex4(h,   k, n) {
    n = 0
    for (k = 1; k <= 4; k++) n = n * 16 + index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
    return n
}
function str(   out, c, n, lo) {   # at a quote: the decoded string
    P++; out = ""
    while (P <= N) {
        c = substr(S, P, 1)
        if (c == "\"") { P++; return out }
        if (c == "\\") {
            c = substr(S, P + 1, 1); P += 2
            if (c == "n") out = out "\n"; else if (c == "t") out = out "\t"
            else if (c == "r") out = out "\r"; else if (c == "b") out = out "\b"
            else if (c == "f") out = out "\f"
            else if (c == "u") {
                n = hex4(substr(S, P, 4)); P += 4
                if (n >= 55296 && n < 56320 && substr(S, P, 2) == "\\u") {
                    lo = hex4(substr(S, P + 2, 4)); P += 6
                    n = 65536 + (n - 55296) * 1024 + (lo - 56320)
                }
                out = out utf8(n)
            } else out = out c
        } else { out = out c; P++ }
    }
    err("unterminated string")
}
function enc(s,   out, c) {   # a string as json.dumps(ensure_ascii=False) writes it
    out = ""
    while (match(s, /[\\"[:cntrl:]]/)) {
        c = substr(s, RSTART, 1)
        out = out substr(s, 1, RSTART - 1)
        if (c == "\\") out = out "\\\\"; else if (c == "\"") out = out "\\\""
        else if (c == "\n") out = out "\\n"; else if (c == "\t") out = out "\\t"
        else if (c == "\r") out = out "\\r"; else if (c == "\b") out = out "\\b"
        else if (c == "\f") out = out "\\f"; else if (c == "\177") out = out c
        else out = out sprintf("\\u%04x", ord[c])
        s = substr(s, RSTART + 1)
    }
    return "\"" out s "\""
}
# The next value: T is its type (str num true false null obj arr); returns the
# text Python str() gives (for str and scalars) or json.dumps (for obj and arr).
function value(   c, start, key, v, out, sep) {
    ws(); c = substr(S, P, 1)
    if (c == "\"") { v = str(); T = "str"; return v }
    if (c == "{") {
        P++; out = "{"; sep = ""; ws()
        if (substr(S, P, 1) == "}") { P++; T = "obj"; return "{}" }
        while (1) {
            ws(); if (substr(S, P, 1) != "\"") err("expected a key")
            key = str(); ws(); if (substr(S, P, 1) != ":") err("expected :"); P++
            v = value(); out = out sep enc(key) ": " canon(v); sep = ", "; ws()
            c = substr(S, P, 1); P++
            if (c == "}") break
            if (c != ",") err("expected , or }")
        }
        T = "obj"; return out "}"
    }
    if (c == "[") {
        P++; out = "["; sep = ""; ws()
        if (substr(S, P, 1) == "]") { P++; T = "arr"; return "[]" }
        while (1) {
            v = value(); out = out sep canon(v); sep = ", "; ws()
            c = substr(S, P, 1); P++
            if (c == "]") break
            if (c != ",") err("expected , or ]")
        }
        T = "arr"; return out "]"
    }
    if (substr(S, P, 4) == "true") { P += 4; T = "true"; return "True" }
    if (substr(S, P, 5) == "false") { P += 5; T = "false"; return "False" }
    if (substr(S, P, 4) == "null") { P += 4; T = "null"; return "None" }
    start = P
    while (P <= N && index("+-0123456789.eE", substr(S, P, 1))) P++
    if (P == start) err("unexpected " substr(S, P, 10))
    T = "num"; return substr(S, start, P - start)
}
function canon(v) {   # the JSON of the value just read (T tells its type)
    if (T == "str") return enc(v)
    if (T == "true") return "true"; if (T == "false") return "false"; if (T == "null") return "null"
    return v
}
BEGIN { for (i = 1; i < 32; i++) ord[sprintf("%c", i)] = i; src = (mode == "env") ? ENVIRON["AF_JSON_SRC"] : "AETHERFLOW_ENV_FILES_JSON" }
{ S = (NR > 1) ? S "\n" $0 : $0 }
END {
    N = length(S); P = 1; ws()
    if (mode == "specs") {
        if (substr(S, P, 1) != "[") err("must be a JSON list of env file specs")
        P++; ws()
        if (substr(S, P, 1) == "]") exit 0
        while (1) {
            ws(); if (substr(S, P, 1) != "{") err("every entry must be an object")
            P++; type = ""; path = ""; optional = 0; prefix = ""
            ws()
            while (substr(S, P, 1) != "}") {
                ws(); key = str(); ws(); P++
                v = value()
                if (key == "type") type = (T == "null") ? "" : v
                else if (key == "path") path = (T == "null") ? "" : v
                else if (key == "prefix") prefix = (T == "null") ? "" : v
                else if (key == "optional") optional = !(T == "false" || T == "null" || v == "0" || v == "" )
                ws(); if (substr(S, P, 1) == ",") P++
                ws()
            }
            P++
            printf "af_spec %s %s %s %s\n", q(type), q(path), optional, q(prefix)
            ws(); c = substr(S, P, 1); P++
            if (c == "]") break
            if (c != ",") err("expected , or ]")
        }
        exit 0
    }
    if (substr(S, P, 1) != "{") err("a json env file must hold one JSON object")
    P++; ws()
    if (substr(S, P, 1) == "}") exit 0
    while (1) {
        ws(); key = str(); ws(); if (substr(S, P, 1) != ":") err("expected :"); P++
        v = value()
        if (T != "null") printf "af_set %s %s\n", q(key), q(v)
        ws(); c = substr(S, P, 1); P++
        if (c == "}") break
        if (c != ",") err("expected , or }")
    }
}
