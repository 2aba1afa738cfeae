import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // Unit and workflow tests never touch the network; nothing here should wait long.
    testTimeout: 20_000,
    env: {
      STAGE: 'test',
      AWS_REGION: 'ap-northeast-2',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      LOG_LEVEL: 'ERROR',
    },
  },
});
