# line -> bool: is this a line sshd(8) takes from an authorized_keys file ("AUTHORIZED_KEYS
# FILE FORMAT"): optional options (names as sshd spells them, values quoted, `\"`
# inside), then a key type, its base64 and an optional comment?
#
# Key types: ed25519, RSA, ECDSA and the FIDO (sk-) kinds; DSA is gone from OpenSSH 10.
# The same rule is written in lib/validation.ts (isAuthorizedKey), nix/installer/run-installer
# and nix/installer/do-install; __tests__/nix/authorized-keys.test.ts runs one table of
# lines through all four and requires the same answer from each.
let
  option = ''(agent-forwarding|cert-authority|command|environment|expiry-time|from|no-agent-forwarding|no-port-forwarding|no-pty|no-touch-required|no-user-rc|no-X11-forwarding|permitlisten|permitopen|port-forwarding|principals|pty|restrict|tunnel|user-rc|verify-required|X11-forwarding)(="([^"\\]|\\.)*")?'';
  keyType = ''(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)'';
  line = "[[:blank:]]*(${option}(,${option})*[[:blank:]]+)?${keyType}[[:blank:]]+[A-Za-z0-9+/]+={0,3}([[:blank:]].*)?";
in
value:
let
  # surrounding white space (a CR of a Windows file included) is no part of the key
  trimmed = if builtins.isString value then builtins.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" value else null;
  inner = builtins.head trimmed;
in
trimmed != null
# one line only (Nix's `.` matches a newline too)
&& builtins.match "[^\n\r]*" inner != null
&& builtins.match line inner != null
