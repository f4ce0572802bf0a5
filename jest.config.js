/** @type {import('jest').Config} */
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
};
const moduleNameMapper = { '^@braid/(core|sql|git|pg|report|cli)$': '<rootDir>/packages/$1/src/index.ts' };

module.exports = {
  // Database and git tests share one PostgreSQL server and two cores: keep parallelism modest.
  maxWorkers: 2,
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
    },
    {
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/helpers/setup.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
    },
  ],
};
