# aetherflow: `<flow>.sh verify` for the shell target, run alone by the flow script (the
# runtime beside it may be the damaged file): every file of the dist DIR against the
# sha256 its manifest.json lists. Exit 0 when all match, else 2 with the differing files.
# Usage: sh verify.sh DIR

af_dist=${1:-.}
af_sha=$(command -v sha256sum || command -v shasum) || {
    echo "error: verify needs sha256sum or shasum on PATH" >&2; exit 2; }
case $af_sha in *shasum) af_sha="$af_sha -a 256" ;; esac
af_n=0; af_bad=
while IFS= read -r af_line; do
    case $af_line in '    "'*'": "'*'"'*) ;; *) continue ;; esac
    af_path=${af_line#*\"}; af_path=${af_path%%\"*}; af_want=${af_line%\"*}; af_want=${af_want##*\"}
    af_n=$((af_n + 1))
    if [ ! -f "$af_dist/$af_path" ]; then
        af_bad="$af_bad  missing: $af_path
"
    elif [ "$($af_sha <"$af_dist/$af_path" 2>/dev/null | cut -c1-64)" != "$af_want" ]; then
        af_bad="$af_bad  changed: $af_path
"
    fi
done <<EOF_AF
$(sed -n '/^  "artifacts": {$/,/^  }/p' "$af_dist/manifest.json" 2>/dev/null)
EOF_AF
[ "$af_n" -gt 0 ] || { echo "error: cannot read the artifacts of $af_dist/manifest.json" >&2; exit 2; }
if [ -n "$af_bad" ]; then
    printf '%s differs from its manifest.json (deploy the compiled directory again):\n%s' "$af_dist" "$af_bad" >&2
    exit 2
fi
echo "$af_dist: $af_n files as compiled (manifest.json)"
