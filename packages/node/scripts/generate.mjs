// Generates src/schema.d.ts (the API's types) from the repository's docs/openapi.json with openapi-typescript; `--check` only reports drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const source = new URL('../../../docs/openapi.json', import.meta.url);
const target = fileURLToPath(new URL('../src/schema.d.ts', import.meta.url));

// Read from disk and pass the parsed object: the output then depends on the file's content alone,
// not on where the repository is checked out, so regenerating is byte for byte reproducible.
const document = JSON.parse(readFileSync(source, 'utf8'));
const ast = await openapiTS(document, { alphabetize: true });
const banner = '// Types of the Custos API, generated from docs/openapi.json by `npm run generate -w packages/node`; do not edit.\n';
const output = banner + astToString(ast);

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // A missing file is drift like any other.
  }
  if (current !== output) {
    console.error('src/schema.d.ts is out of date with docs/openapi.json: run `npm run generate -w packages/node`');
    process.exit(1);
  }
  console.log('src/schema.d.ts matches docs/openapi.json');
} else {
  writeFileSync(target, output);
  console.log('wrote src/schema.d.ts from docs/openapi.json');
}
