/**
 * Loaded first by the package's entry points: a project that has the other CDK core
 * (cdktf or cdktn) gets a message naming the entry point that fits it, instead of
 * "Cannot find module". The cdktn build rewrites the module name below (see
 * scripts/build-cdktn-flavour.js), so this file serves both.
 */
try {
  require("cdktf");
} catch (cause) {
  if ((cause as { code?: string }).code !== "MODULE_NOT_FOUND") throw cause;
  const cdktn = /[\\/]cdktn[\\/]lib$/.test(__dirname);
  throw new Error(
    cdktn
      ? 'cdktf-nixos-installer/cdktn needs the cdktn package in your project (npm install cdktn constructs); a cdktf project imports "cdktf-nixos-installer" instead'
      : 'cdktf-nixos-installer needs the cdktf package in your project (npm install cdktf constructs); a cdktn project imports "cdktf-nixos-installer/cdktn" (and "cdktf-nixos-installer/cdktn/hcloud") instead',
    { cause },
  );
}
