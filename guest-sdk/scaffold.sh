# The part of `new.sh DIR [--kind dofn|combine|window|trigger]` every SDK shares,
# sourced by each SDK's new.sh after it sets `sdk` (its folder) and `template`
# (its templates' suffix, e.g. ".py.in": a kind is known by its template):
#
#   . "$sdk/../scaffold.sh" "$@"
#
# It checks the arguments, the plugin's name (the folder's) and that the folder is
# new or empty, makes it, and sets `dir` (absolute), `kind`, `name`, `type`
# (my-plugin → MyPlugin) and `package` (lower case); `fill TEMPLATE` prints a
# template with {{name}}, {{type}}, {{package}}, {{dir}} and {{sdk}} filled in.

die() {
    echo "new.sh: $*" >&2
    exit 1
}

usage="usage: new.sh DIR [--kind dofn|combine|window|trigger]"
[ $# -ge 1 ] || die "$usage"
dir=$1
kind=dofn
if [ $# -eq 3 ] && [ "$2" = --kind ]; then
    kind=$3
elif [ $# -ne 1 ]; then
    die "$usage"
fi
[ -f "$sdk/templates/$kind$template" ] || die "no kind $kind: dofn, combine, window or trigger"
name=$(basename "$dir")
[[ $name =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]] ||
    die "\"$name\" cannot name a plugin: use letters, digits, - and _, starting with a letter"
if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir already exists and is not empty"
fi
type=$(echo "$name" | sed -E 's/(^|[-_])([a-z])/\U\2/g; s/[-_]//g')
package=$(echo "$name" | tr '[:upper:]' '[:lower:]')
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

fill() {
    sed -e "s|{{name}}|$name|g" -e "s|{{type}}|$type|g" -e "s|{{package}}|$package|g" \
        -e "s|{{dir}}|$dir|g" -e "s|{{sdk}}|$sdk|g" "$1"
}
