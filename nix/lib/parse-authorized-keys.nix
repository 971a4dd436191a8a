# Text of an OpenSSH authorized_keys file -> list of key lines.
# Blank lines and comment lines (#) are dropped; the lines are kept verbatim
# otherwise (options such as `from="…"` stay attached to their key). A line that
# is no key (./authorized-key-line.nix) fails evaluation with its number, so a typo
# never silently locks a host's users out.
text:
let
  isKeyLine = import ./authorized-key-line.nix;
  lines = builtins.filter builtins.isString (builtins.split "\n" text);
  strip = l: let m = builtins.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" l; in
    if m == null then "" else builtins.head m;
  numbered = builtins.genList (i: { n = i + 1; line = strip (builtins.elemAt lines i); }) (builtins.length lines);
  keep = l: l.line != "" && builtins.substring 0 1 l.line != "#";
  kept = builtins.filter keep numbered;
  bad = builtins.filter (l: !isKeyLine l.line) kept;
in
if bad == [ ] then map (l: l.line) kept
else throw ("authorized_keys: every line must be an OpenSSH public key line (optional sshd options, then a key of type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com, base64, comment); fix or remove:\n"
  + builtins.concatStringsSep "\n" (map (l: "  line ${toString l.n}: ${builtins.substring 0 100 l.line}") bad))
