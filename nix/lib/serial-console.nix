# Nix system -> what its firmware and serial port are, for the kernel command line and
# GRUB: x86_64 servers have a 16550 UART (ttyS0) and may boot legacy BIOS; arm64 servers
# (Hetzner's cax, Ampere) have a PL011 UART (ttyAMA0) and boot through UEFI only.
system:
if system == "x86_64-linux" then { serial = "ttyS0"; biosBoot = true; }
else if system == "aarch64-linux" then { serial = "ttyAMA0"; biosBoot = false; }
else throw "serial-console: `system` must be x86_64-linux or aarch64-linux, got: ${builtins.toJSON system}"
