#!/usr/bin/env node
// Prints the native source groups named on the command line (see native/sources.json), one
// path per line, for binding.gyp's <!@(...) expansion.
'use strict';
const path = require('node:path');
const groups = require(path.join(__dirname, '..', 'native', 'sources.json'));
for (const name of process.argv.slice(2)) {
  if (!Array.isArray(groups[name])) {
    console.error(`sources.js: no source group "${name}" in native/sources.json`);
    process.exit(1);
  }
  for (const file of groups[name]) console.log(file);
}
