/** Tests mirror the source tree under __tests__/; lab suites run real terraform and sshd. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  testTimeout: 120000,
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  // the default output, then seconds per suite group (scripts/jest-group-times.js)
  reporters: ["default", "<rootDir>/scripts/jest-group-times.js"],
};
