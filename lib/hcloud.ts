/**
 * The typed hetznercloud/hcloud bindings (generated from the provider schema, see
 * docs/decisions/hcloud-bindings.md), one namespace a resource or data source, as the
 * prebuilt providers lay them out:
 *
 *   import { network, networkSubnet, provider } from "cdktf-nixos-installer/hcloud";
 *   new network.Network(stack, "net", { name: "internal", ipRange: "10.0.0.0/16" });
 *
 * or one resource's classes directly: `import { Network } from "cdktf-nixos-installer/hcloud/network"`.
 */
import "./require-core";
export * from "../.gen/providers/hcloud";
