import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup-env.ts'],
    // Real git, npm, Docker and browsers: generous limits, no wall-clock assertions.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: more workers only make the Docker and npm tests fight.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
