// Prints vitest's JSON report as one closing line, `vitest: N passed, N failed, N skipped`, the form
// CI reads. Exits 0 even when tests failed: the test command's own exit status is what counts.
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-artifacts/vitest.json';
if (!existsSync(file)) {
  console.log(`vitest: no report at ${file} (the run stopped before the tests)`);
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// A file that failed outside its tests (a hook, an import) has no failed test to count: count the file.
const brokenFiles = (report.testResults ?? []).filter(
  (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((test) => test.status === 'failed'),
).length;
console.log(`vitest: ${report.numPassedTests} passed, ${report.numFailedTests + brokenFiles} failed, ${skipped} skipped`);
