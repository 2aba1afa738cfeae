/**
 * Shell scripts (and any other text asset) are imported as their text, so each handler's bundle
 * carries the script it sends through SSM Run Command. esbuild: `loader: { '.sh': 'text' }`;
 * vitest: the text-modules plugin in vitest.config.ts.
 */
declare module '*.sh' {
  const text: string;
  export default text;
}
