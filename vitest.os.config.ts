import { defineConfig } from 'vitest/config';

/**
 * `npm run test:os`: the booted-OS tier (test/os/), a Debian 12 container booted with systemd, the
 * install and start scripts run in it as SSM runs them. Minutes per run, so not part of `npm test`;
 * .ci/run runs it after. One file, one container, its tests in order.
 */
export default defineConfig({
  test: {
    include: ['test/os/**/*.test.ts'],
    fileParallelism: false,
    // A test can wait out a whole command: the install's executionTimeout is 25 minutes.
    testTimeout: 30 * 60_000,
    // The first run builds the image with debootstrap.
    hookTimeout: 40 * 60_000,
  },
});
