import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, expect, vi } from 'vitest';
import { checkCommandLedger } from './iam/ledger';

// Every client mocked in any test file records the commands it receives (test/iam/ledger.ts): a file
// that tests a handler fails if that handler sent a command shared/aws-calls.ts does not list for it.
vi.mock('aws-sdk-client-mock', async (importOriginal) => {
  const actual = await importOriginal<typeof import('aws-sdk-client-mock')>();
  const { trackStub } = await import('./iam/ledger');
  const mockClient: typeof actual.mockClient = (...args) => trackStub(actual.mockClient(...args));
  return { ...actual, mockClient };
});

afterAll(async () => {
  await checkCommandLedger(expect.getState().testPath);
});
