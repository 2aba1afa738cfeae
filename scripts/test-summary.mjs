// Prints vitest's JSON report as one closing line, `vitest: N passed, N failed, N skipped`, the form
// CI reads. Several reports (npm test's, then the booted-OS tier's) are summed into that one line; a
// report that is missing counts as one failure. Exits 0 even when tests failed: the test commands'
// own exit status is what counts.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['test-artifacts/vitest.json'];
if (files.length === 1 && !existsSync(files[0])) {
  console.log(`vitest: no report at ${files[0]} (the run stopped before the tests)`);
  process.exit(0);
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of files) {
  if (!existsSync(file)) {
    console.log(`no report at ${file} (that run stopped before its tests): counted as one failure`);
    total.failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  // A file that failed outside its tests (a hook, an import) has no failed test to count: count the file.
  const brokenFiles = (report.testResults ?? []).filter(
    (result) => result.status === 'failed' && !(result.assertionResults ?? []).some((test) => test.status === 'failed'),
  ).length;
  total.passed += report.numPassedTests ?? 0;
  total.failed += (report.numFailedTests ?? 0) + brokenFiles;
  total.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`vitest: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
