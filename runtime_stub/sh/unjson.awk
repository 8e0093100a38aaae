{ s = (NR > 1) ? s "\n" $0 : $0 }
END {
    s = substr(s, 2, length(s) - 2); out = ""; nul = 0
    while ((i = index(s, "\\")) > 0) {
        out = out substr(s, 1, i - 1); c = substr(s, i + 1, 1)
        if (c == "n") out = out "\n"; else if (c == "t") out = out "\t"
        else if (c == "r") out = out "\r"; else if (c == "b") out = out "\b"
        else if (c == "f") out = out "\f"; else if (c == "u") {
            n = hex(substr(s, i + 2, 4)); i += 4
            if (n == 0) nul = 1
            else if (n < 128) out = out sprintf("%c", n)
            else if (n < 2048) out = out sprintf("%c%c", 192 + int(n / 64), 128 + n % 64)
            else out = out sprintf("%c%c%c", 224 + int(n / 4096), 128 + int(n / 64) % 64, 128 + n % 64)
        } else out = out c
        s = substr(s, i + 2)
    }
    printf "%s%s", out s, (nul ? "0" : "x")
}
function hex(h,   n, k, d) {
    n = 0
    for (k = 1; k <= length(h); k++) {
        d = index("0123456789abcdef", tolower(substr(h, k, 1))) - 1
        n = n * 16 + d
    }
    return n
}
