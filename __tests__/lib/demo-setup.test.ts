// `npm run demo` on a fresh machine: what it installs by itself (Debian or Ubuntu, as
// root) and what it says elsewhere (lab/setup.ts).
import { isDebianLike, LAB_TOOLS, missingLabTools, planLabSetup, TERRAFORM_HINT } from "../../lab/setup";

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nID=debian\n';
const UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n';
const MINT = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n';
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\n';

describe("the demo's set-up plan", () => {
  test("on Debian as root, a missing sshd and ssh-keyscan become one apt-get install of their packages", () => {
    expect(planLabSetup(["sshd", "ssh-keyscan", "ssh-keygen"], { root: true, osRelease: DEBIAN })).toEqual({ install: ["openssh-server", "openssh-client"] });
  });

  test("Ubuntu and its derivatives count as Debian; Fedora does not", () => {
    expect([DEBIAN, UBUNTU, MINT, FEDORA, ""].map(isDebianLike)).toEqual([true, true, true, false, false]);
    expect(planLabSetup(["cpio"], { root: true, osRelease: MINT })).toEqual({ install: ["cpio"] });
  });

  test("not root: it stops, naming the tools, the packages and `sudo npm run demo`", () => {
    expect(planLabSetup(["sshd"], { root: false, osRelease: DEBIAN })).toEqual({
      install: [],
      stop: "the lab needs sshd (Debian packages: openssh-server) and root: run `sudo npm run demo` (it installs them), or apt-get install -y openssh-server",
    });
  });

  test("another distribution: it stops with what to install, by the Debian names", () => {
    expect(planLabSetup(["sshd", "unshare"], { root: true, osRelease: FEDORA }).stop).toBe(
      "the lab needs sshd, unshare (Debian packages: openssh-server util-linux): install them with your system's package manager",
    );
  });

  test("terraform is never installed from apt: it says where terraform comes from", () => {
    expect(planLabSetup(["terraform", "sshd"], { root: true, osRelease: DEBIAN })).toEqual({
      install: [],
      stop: `the lab needs terraform: ${TERRAFORM_HINT}; and: openssh-server`,
    });
  });

  test("nothing missing: nothing to install", () => {
    expect(planLabSetup([], { root: false, osRelease: FEDORA })).toEqual({ install: [] });
  });

  test("every tool the lab needs maps to a Debian package, and this machine (which runs the lab tests) has them all", () => {
    expect(Object.values(LAB_TOOLS).every((p) => /^[a-z0-9][a-z0-9.+-]+$/.test(p))).toBe(true);
    expect(missingLabTools()).toEqual([]);
  });
});
