{ s = s $0 }
END {
    out = ""; d = 0; n = length(s); i = 1
    while (i <= n) {
        c = substr(s, i, 1)
        if (c == "\"") {
            j = i + 1
            while (j <= n && substr(s, j, 1) != "\"") j += (substr(s, j, 1) == "\\") ? 2 : 1
            out = out substr(s, i, j - i + 1); i = j + 1; continue
        }
        if (c == "[" || c == "{") {
            k = i + 1; while (substr(s, k, 1) == " ") k++
            e = substr(s, k, 1)
            if ((c == "[" && e == "]") || (c == "{" && e == "}")) { out = out c e; i = k + 1; continue }
            d++; out = out c "\n" pad(d)
        } else if (c == "]" || c == "}") { d--; out = out "\n" pad(d) c }
        else if (c == ",") { out = out ",\n" pad(d); while (substr(s, i + 1, 1) == " ") i++ }
        else if (c == ":") { out = out ": "; while (substr(s, i + 1, 1) == " ") i++ }
        else if (c != " ") out = out c
        i++
    }
    printf "%s", out
}
function pad(k,   r) { r = base; while (k-- > 0) r = r "  "; return r }
