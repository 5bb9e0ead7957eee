import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Compiles src/ to dist/ once, for the tests that run the CLI as users do.
    globalSetup: ['test/setup/build.ts'],
    testTimeout: 120_000,
    pool: 'forks',
  },
});
