#!/usr/bin/env node
// The hello-fleet CLI (cli/main.ts). The TypeScript is loaded through tsx's ESM API, so `npx hello-fleet`
// runs the sources of this checkout as they are: no build step that could be stale.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main();
