// Two projects: `unit` (pure functions, no server) and `directory` (integration and end-to-end
// tests against one private slapd and one serverless-offline that test/global-setup.ts starts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One shared directory: test files run one after another so their reads back are exact.
    fileParallelism: false,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'directory',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/setup-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
