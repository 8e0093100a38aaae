BEGIN {
    for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
    esc["\b"] = "\\b"; esc["\f"] = "\\f"; esc["\n"] = "\\n"; esc["\r"] = "\\r"
    esc["\t"] = "\\t"; esc["\""] = "\\\""; esc["\\"] = "\\\\"
    printf "\""
}
{
    if (NR > 1) out = out "\n"
    out = out $0
}
END {
    out = substr(out, 1, length(out) - 1)
    while (match(out, /[\\"[:cntrl:]]/)) {
        c = substr(out, RSTART, 1)
        printf "%s%s", substr(out, 1, RSTART - 1), ((c in esc) ? esc[c] : c)
        out = substr(out, RSTART + 1)
    }
    printf "%s\"", out
}
