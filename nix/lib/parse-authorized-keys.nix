# Text of an OpenSSH authorized_keys file -> list of key lines.
# Blank lines and comment lines (#) are dropped; the lines are kept verbatim
# otherwise (options such as `from="…"` stay attached to their key).
text:
let
  lines = builtins.filter builtins.isString (builtins.split "\n" text);
  strip = l: let m = builtins.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" l; in
    if m == null then "" else builtins.head m;
  keep = l: l != "" && builtins.substring 0 1 l != "#";
in
builtins.filter keep (map strip lines)
