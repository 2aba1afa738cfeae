/**
 * The SDK commands a function's shipped bundle (.serverless/<key>.zip, as `npm run package` builds it)
 * can send. esbuild tree-shakes the AWS SDK, so a bundle holds the command classes its code can reach
 * and no other: each generated command is `class extends <builder>(…, "<Operation>", …)` of its client's
 * builder (`<builder> = make(…, "<Service>", "<Name>Client", …)`). The scan finds both; a bundle that uses
 * a client but in which no command is recognised means the SDK's generated code changed shape, and throws.
 */
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

/** The files of a zip archive (stored or deflated entries), by name. Enough for osls's packages. */
export const unzip = (archive: Buffer): Map<string, Buffer> => {
  const files = new Map<string, Buffer>();
  // The end of central directory record: the last PK\x05\x06 (a comment may follow it).
  const end = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip archive');
  const count = archive.readUInt16LE(end + 10);
  let offset = archive.readUInt32LE(end + 16);
  for (let index = 0; index < count; index++) {
    if (archive.readUInt32LE(offset) !== 0x02014b50) throw new Error('a damaged zip central directory');
    const method = archive.readUInt16LE(offset + 10);
    const compressedSize = archive.readUInt32LE(offset + 20);
    const nameLength = archive.readUInt16LE(offset + 28);
    const extraLength = archive.readUInt16LE(offset + 30);
    const commentLength = archive.readUInt16LE(offset + 32);
    const localHeader = archive.readUInt32LE(offset + 42);
    const name = archive.toString('utf8', offset + 46, offset + 46 + nameLength);
    const dataStart = localHeader + 30 + archive.readUInt16LE(localHeader + 26) + archive.readUInt16LE(localHeader + 28);
    const data = archive.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) files.set(name, Buffer.from(data));
    else if (method === 8) files.set(name, inflateRawSync(data));
    else throw new Error(`zip entry ${name}: compression method ${method} is not supported`);
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return files;
};

const escape = (text: string) => text.replace(/[$]/g, '\\$');

export interface BundledCommand {
  /** `EC2`, `SSM`, `SFN`, or a client only the SDK's credential chain uses (`STS`, `SSO`, ...). */
  client: string;
  operation: string;
}

/** The SDK commands in a bundle's JavaScript. */
export const commandsInBundle = (code: string): BundledCommand[] => {
  const builders = new Map<string, string>();
  for (const match of code.matchAll(/([\w$]+)=[\w$]+\([\w$]+,"\w+","(\w+)Client",[\w$]+\)/g)) builders.set(match[1] as string, match[2] as string);
  const commands: BundledCommand[] = [];
  for (const [builder, client] of builders) {
    const pattern = new RegExp(`class extends ${escape(builder)}\\([\\w$]+,[\\w$]+,"(\\w+)",[\\w$]+\\)`, 'g');
    for (const match of code.matchAll(pattern)) commands.push({ client, operation: match[1] as string });
  }
  if (builders.size > 0 && commands.length === 0) {
    throw new Error('the bundle uses AWS SDK clients but no command was recognised: the SDK generated code changed shape, update test/iam/bundles.ts');
  }
  return commands;
};

/** The commands in a function's package: its handler's .mjs. */
export const commandsInPackage = (zipFile: string, handlerModule: string): BundledCommand[] => {
  const files = unzip(readFileSync(zipFile));
  const code = files.get(`${handlerModule}.mjs`);
  if (code === undefined) throw new Error(`${zipFile} has no ${handlerModule}.mjs (it has ${[...files.keys()].join(', ')})`);
  return commandsInBundle(code.toString('utf8'));
};
