// Valid NixosInstall props for synth tests, with the given props changed.
import { KexecBundle, NixosInstallProps, PassphraseSource } from "../../lib";
import { BASE_KEY, USER_KEY } from "./keys";

export const URL_BUNDLE = KexecBundle.fromUrl({ url: "https://example.org/kexec.tar.gz", sha256: "a".repeat(64), system: "x86_64-linux" });

export function installProps(overrides: Partial<NixosInstallProps> = {}): NixosInstallProps {
  return {
    host: "203.0.113.10",
    hostKey: BASE_KEY,
    authorizedKeys: [USER_KEY],
    passphrase: PassphraseSource.fromEnv("DISK_PASSPHRASE"),
    hostName: "web-1",
    bundle: URL_BUNDLE,
    ...overrides,
  };
}
