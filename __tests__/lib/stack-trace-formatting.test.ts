// The constructs make their cdktf tokens with V8's own stack formatting, so a formatter
// the app installed (source-map-support under ts-node) is not run for each token, and
// that formatter is back in place afterwards (docs/decisions/synth-stack-traces.md).
import { TerraformStack, Testing, Tokenization } from "cdktf";
import { HcloudNixosServer } from "../../lib/hcloud-nixos-server";
import { NixosInstall } from "../../lib/nixos-install";
import { baseProps, testApp } from "../hcloud/helpers";
import { installProps } from "../support/install-props";

type Formatter = ErrorConstructor["prepareStackTrace"];

/** Runs `body` with a counting formatter installed, as ts-node installs source-map-support's. */
function withCountingFormatter(body: (installed: Formatter) => void): number {
  const saved = Error.prepareStackTrace;
  let calls = 0;
  const counting: Formatter = (error, frames) => {
    calls++;
    return `${error}\n    at ${frames.join("\n    at ")}`;
  };
  Error.prepareStackTrace = counting;
  try {
    body(counting);
  } finally {
    Error.prepareStackTrace = saved;
  }
  return calls;
}

describe("stack traces of the constructs' tokens", () => {
  test("an HcloudNixosServer never runs the app's stack formatter for its tokens, and leaves that formatter installed", () => {
    const calls = withCountingFormatter((installed) => {
      const stack = new TerraformStack(testApp(), "s");
      new HcloudNixosServer(stack, "web-1", baseProps());
      expect(Error.prepareStackTrace).toBe(installed);
    });
    expect(calls).toBe(0);
  });

  test("a NixosInstall never runs it either, and the synthesized host is the same with or without an installed formatter", () => {
    const synth = () => {
      const stack = new TerraformStack(Testing.app(), "s");
      new NixosInstall(stack, "web-1", installProps());
      return Testing.synth(stack, true);
    };
    let withFormatter = "";
    expect(withCountingFormatter(() => (withFormatter = synth()))).toBe(0);
    expect(withFormatter).toBe(synth());
  });

  test("tokens made while a formatter is installed still record where they were made", () => {
    withCountingFormatter(() => {
      const stack = new TerraformStack(testApp(), "s");
      const host = new HcloudNixosServer(stack, "web-1", baseProps());
      // The chain's address is the server's IPv4: a reference made inside the construct.
      const token = Tokenization.reverseString(host.address).firstToken;
      expect(token?.creationStack.some((frame) => frame.includes("HcloudNixosServer"))).toBe(true);
    });
  });

  test("a construct that throws while it builds puts the installed formatter back", () => {
    const props = installProps();
    Object.defineProperty(props, "bundle", {
      get() {
        throw new Error("bundle getter failed");
      },
    });
    withCountingFormatter((installed) => {
      const stack = new TerraformStack(Testing.app(), "s");
      expect(() => new NixosInstall(stack, "web-1", props)).toThrow("bundle getter failed");
      expect(Error.prepareStackTrace).toBe(installed);
    });
  });
});
