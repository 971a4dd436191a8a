# runtime-info (attrset, already parsed) -> the same attrset, or an error.
#
# Checks what the Nix side relies on, with the rules of
# schema/runtime-info.v1.schema.json. All failures are collected and thrown
# once, one per line, in the shape
#   runtime-info: `field` must be <rule>, got: <value>
# so a person fixing the file sees every problem in one run.
let
  show = v:
    if builtins.isString v then builtins.toJSON v
    else if v == null then "null"
    else builtins.toJSON v;

  matches = re: v: builtins.isString v && builtins.match re v != null;

  hostNameRe = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
  macRe = "[0-9a-f]{2}(:[0-9a-f]{2}){5}";
  ipRe = "(([0-9]{1,3}\\.){3}[0-9]{1,3}|[0-9a-f:]*:[0-9a-f:.]*)";
  cidrRe = "((([0-9]{1,3}\\.){3}[0-9]{1,3})/([0-9]|[12][0-9]|3[0-2])|([0-9a-f:]*:[0-9a-f:.]*)/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))";
  diskPathRe = "/dev/[A-Za-z0-9._:+@/-]+";

  check = cond: msg: if cond then [ ] else [ msg ];

  listOf = pred: v: builtins.isList v && builtins.all pred v;

  checkDisk = i: d:
    let at = "disks[${toString i}]"; in
    if !builtins.isAttrs d then [ "`${at}` must be an object, got: ${show d}" ]
    else
      check (matches diskPathRe (d.path or null))
        "`${at}.path` must be a path under /dev (e.g. /dev/disk/by-id/…), got: ${show (d.path or null)}"
      ++ check (builtins.isInt (d.sizeBytes or null) && d.sizeBytes >= 1)
        "`${at}.sizeBytes` must be a positive integer, got: ${show (d.sizeBytes or null)}";

  checkInterface = i: n:
    let at = "interfaces[${toString i}]"; in
    if !builtins.isAttrs n then [ "`${at}` must be an object, got: ${show n}" ]
    else
      check (matches macRe (n.mac or null))
        "`${at}.mac` must be a lower-case MAC address (aa:bb:cc:dd:ee:ff), got: ${show (n.mac or null)}"
      ++ check (builtins.isInt (n.mtu or null) && n.mtu >= 576 && n.mtu <= 65535)
        "`${at}.mtu` must be an integer from 576 to 65535, got: ${show (n.mtu or null)}"
      ++ check (listOf (matches cidrRe) (n.addresses or null))
        "`${at}.addresses` must be a list of addresses with prefix length (CIDR), got: ${show (n.addresses or null)}"
      ++ check (listOf (matches ipRe) (n.gateways or null))
        "`${at}.gateways` must be a list of IP addresses, got: ${show (n.gateways or null)}";

  imap = f: list: builtins.genList (i: f i (builtins.elemAt list i)) (builtins.length list);

  problems = ri:
    if !builtins.isAttrs ri then [ "the document must be a JSON object, got: ${show ri}" ]
    else if (ri.version or null) != 1 then [
      "`version` must be 1 (this release reads runtime-info v1 only; regenerate the file with write-runtime-info of this release), got: ${show (ri.version or null)}"
    ]
    else
      check (matches hostNameRe (ri.hostName or null))
        "`hostName` must be a valid hostname (a-z, 0-9, '-', at most 63), got: ${show (ri.hostName or null)}"
      ++ check (builtins.elem (ri.system or null) [ "x86_64-linux" "aarch64-linux" ])
        "`system` must be one of x86_64-linux, aarch64-linux, got: ${show (ri.system or null)}"
      ++ check (builtins.elem (ri.bootMode or null) [ "bios" "uefi" ])
        "`bootMode` must be one of bios, uefi, got: ${show (ri.bootMode or null)}"
      ++ (if builtins.isList (ri.disks or null) && ri.disks != [ ]
          then builtins.concatLists (imap checkDisk ri.disks)
          else [ "`disks` must be a non-empty list, got: ${show (ri.disks or null)}" ])
      ++ (if builtins.isList (ri.interfaces or null) && ri.interfaces != [ ]
          then builtins.concatLists (imap checkInterface ri.interfaces)
          else [ "`interfaces` must be a non-empty list, got: ${show (ri.interfaces or null)}" ])
      ++ check (listOf (matches ipRe) (ri.nameservers or null))
        "`nameservers` must be a list of IP addresses, got: ${show (ri.nameservers or null)}"
      ++ check (builtins.elem ((ri.hoster or { }).kind or null) [ "generic" "hcloud" ])
        "`hoster.kind` must be one of generic, hcloud, got: ${show ((ri.hoster or { }).kind or null)}";
in
ri:
let found = problems ri; in
if found == [ ] then ri
else throw ("runtime-info is invalid (see schema/runtime-info.v1.schema.json):\n"
  + builtins.concatStringsSep "\n" (map (p: "runtime-info: " + p) found))
