/** Tests mirror the source tree under __tests__/; lab suites run real terraform and sshd. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  testTimeout: 120000,
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  // The examples import the package by its name, as a user's project does; here that
  // name is the source tree (tsconfig.json "paths" does the same for tsc and ts-node).
  moduleNameMapper: {
    "^cdktf-nixos-installer$": "<rootDir>/lib/index.ts",
    "^cdktf-nixos-installer/hcloud$": "<rootDir>/lib/hcloud.ts",
    "^cdktf-nixos-installer/hcloud/(.*)$": "<rootDir>/.gen/providers/hcloud/$1",
  },
  // the default output, then seconds per suite group (scripts/jest-group-times.js)
  reporters: ["default", "<rootDir>/scripts/jest-group-times.js"],
};
