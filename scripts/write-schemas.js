#!/usr/bin/env node
// Writes the JSON Schemas shipped in schemas/ from the option tables (run after tsc):
// one per model kind (its options) and one for experiment files. test/experiment.test.ts
// checks that the committed files equal what this writes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const { MODEL_KINDS, modelSchema, experimentSchema } = require(path.join(root, 'dist', 'src', 'experiment'));

/** The files and their contents, by name. */
function schemaFiles() {
  const files = { 'experiment.schema.json': experimentSchema() };
  for (const kind of MODEL_KINDS) files[`${kind}.schema.json`] = modelSchema(kind);
  const out = {};
  for (const [name, schema] of Object.entries(files)) out[name] = `${JSON.stringify(schema, null, 2)}\n`;
  return out;
}

if (require.main === module) {
  const dir = path.join(root, 'schemas');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(schemaFiles())) fs.writeFileSync(path.join(dir, name), text);
  console.log(`wrote ${Object.keys(schemaFiles()).length} schemas to ${dir}`);
}

module.exports = { schemaFiles };
