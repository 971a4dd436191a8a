/** Tests mirror the source tree under __tests__/; lab suites run real terraform and sshd. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  testTimeout: 120000,
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
};
