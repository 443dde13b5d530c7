import { defineConfig } from 'vitest/config';

// Three projects, run separately by scripts/test.sh: unit and integration need
// nothing but Node; e2e needs a real Incus daemon (scripts/incus-setup.sh).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // One Incus daemon for all: files run one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
