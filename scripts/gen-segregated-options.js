#!/usr/bin/env node
// Writes native/common/segregated_options.inc, the segregated network's option table for C++, from
// the one description of its options: SEGREGATED_OPTIONS in src/models/segregated-options.ts, read
// as compiled (dist/src/models/segregated-options.js: run `npx tsc -p tsconfig.json` first).
//
//   node scripts/gen-segregated-options.js           writes the file
//   node scripts/gen-segregated-options.js --check   exits 1 when the committed file differs
//
// What only this script knows: which C++ Config member holds each option (MEMBERS below) and which
// table options are not native (training settings). An option in the table that is in neither list
// stops the script, so a new option cannot be left out of the simulator silently.
// test/segregated-options-native.test.ts regenerates the file in memory and compares.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const OUT = path.join(root, 'native', 'common', 'segregated_options.inc');

// JS option name -> seg::Config member (native/common/segregated.h).
const MEMBERS = {
  mode: 'mode',
  layers: 'layers',
  nIn: 'n_in',
  dt: 'dt',
  lambdaMax: 'lambda_max',
  tauS: 'tau_s',
  tauL: 'tau_L',
  gB: 'g_B',
  gL: 'g_L',
  gD: 'g_D',
  gA: 'g_A',
  EE: 'E_E',
  EI: 'E_I',
  conductances: 'use_conductances',
  broadcast: 'broadcast',
  spikingFeedforward: 'spiking_feedforward',
  spikingFeedback: 'spiking_feedback',
  mem: 'mem',
  forwardPhase: 'l_f_phase',
  targetPhase: 'l_t_phase',
  testPhase: 'l_test',
  integrationTime: 'integration_time',
  integrationTimeTest: 'integration_time_test',
  randomPhaseLengths: 'rand_phase_lengths',
  waldMean: 'wald_mean',
  waldScale: 'wald_scale',
  randomPlateauTimes: 'rand_plateau_times',
  plateauSd: 'plateau_sd',
  plateauCap: 'plateau_cap',
  feedback: 'feedback',
  noisySymmetric: 'noisy_symmetric',
  symmetricNoiseSd: 'symmetric_noise_sd',
  sparseFeedback: 'sparse_feedback',
  sparseDrop: 'sparse_drop',
  sparseGain: 'sparse_gain',
  feedbackBias: 'feedback_bias',
  init: 'init',
  backprop: 'backprop',
  backpropInPlace: 'backprop_inplace',
  learningRates: 'f_etas',
  feedbackLearningRates: 'b_etas',
};
// Options of the table that the simulator does not take (the training loop uses them).
const NOT_NATIVE = ['batchSize'];
// Choice option -> the C++ enum whose enumerators follow its choices in order ("random" -> Random).
const ENUMS = { mode: 'ModeKind', feedback: 'FeedbackKind', init: 'InitKind' };

// What the defaults are evaluated at: dt = 1 and the table's own defaults for everything else
// (layers [500, 10], nIn 784), in table order, by the resolver the TS layer uses.
const DEFAULT_AT = { dt: 1 };

const KIND = { number: 'Number', integer: 'Integer', boolean: 'Boolean', choice: 'Choice', numberList: 'NumberList',
  integerList: 'IntegerList' };
const TYPE = { number: 'double', integer: 'int64_t', boolean: 'bool', numberList: 'std::vector<double>',
  integerList: 'std::vector<int64_t>' };

/** A JS number as a C++ literal that parses to the same double (JS prints the shortest round trip). */
function literal(x, integer, where) {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${where}: ${x} is not a finite number`);
  if (integer && !Number.isSafeInteger(x)) throw new Error(`${where}: ${x} is not a safe integer`);
  return String(x);
}

function enumerator(option, choice) {
  if (!/^[a-z][a-z0-9]*$/.test(choice)) throw new Error(`option ${option}: choice "${choice}" cannot name an enumerator`);
  return `${ENUMS[option]}::${choice[0].toUpperCase()}${choice.slice(1)}`;
}

/** The default of `name` as a parenthesised C++ expression of its member's type. */
function cppValue(name, spec, v) {
  const where = `option ${name}`;
  switch (spec.type) {
    case 'number':
    case 'integer':
      return `(${literal(v, spec.type === 'integer', where)})`;
    case 'boolean':
      if (typeof v !== 'boolean') throw new Error(`${where}: default ${v} is not a boolean`);
      return `(${v})`;
    case 'choice':
      if (!spec.choices.includes(v)) throw new Error(`${where}: default ${v} is not a choice`);
      return `(${enumerator(name, v)})`;
    case 'numberList':
    case 'integerList':
      if (!Array.isArray(v)) throw new Error(`${where}: default ${v} is not a list`);
      return `({${v.map((x) => literal(x, spec.type === 'integerList', where)).join(', ')}})`;
    default:
      throw new Error(`${where}: unknown type ${spec.type}`);
  }
}

/**
 * The text of segregated_options.inc for a table (SEGREGATED_OPTIONS) and the resolver
 * (resolveOptions of src/models/options.ts).
 */
function generate(table, resolveOptions) {
  const names = Object.keys(table);
  for (const n of names) {
    if (!(n in MEMBERS) && !NOT_NATIVE.includes(n)) {
      throw new Error(`option ${n} of SEGREGATED_OPTIONS has no C++ Config member: add it to MEMBERS (and to seg::Config) ` +
        'or to NOT_NATIVE in scripts/gen-segregated-options.js');
    }
  }
  for (const n of Object.keys(MEMBERS)) {
    if (!(n in table)) throw new Error(`MEMBERS names ${n}, which SEGREGATED_OPTIONS does not have`);
  }
  const modes = table.mode.choices;
  if (modes.join() !== 'spiking,nonspiking') throw new Error(`mode choices changed (${modes.join(', ')}): update the generator`);
  const defaults = {};
  for (const mode of modes) defaults[mode] = resolveOptions('gen-segregated-options', table, { ...DEFAULT_AT, mode });

  const lines = [
    '// GENERATED FILE, do not edit. Written by scripts/gen-segregated-options.js from the options table',
    '// SEGREGATED_OPTIONS of src/models/segregated-options.ts (compiled: dist/src/models/segregated-options.js).',
    '// After changing the table: npx tsc -p tsconfig.json && node scripts/gen-segregated-options.js',
    '// (test/segregated-options-native.test.ts fails while this file and the table differ).',
    '//',
    '// One row per option of the native simulator (seg::Config), in table order; training settings',
    `// (${NOT_NATIVE.join(', ')}) are not here:`,
    '//   DENDRITE_SEG_OPTION(name, member, kind, type, min, exclusive_min, max, exclusive_max, min_items, max_items,',
    '//                       required, spiking, nonspiking)',
    '//   name                 the option\'s JS name',
    '//   member, type         the seg::Config member holding it and the member\'s C++ type',
    '//   kind                 seg::OptionKind: Number, Integer, Boolean, Choice, NumberList or IntegerList',
    '//   min .. max           the valid range (of every entry of a list); exclusive_*: that end is open (0 and',
    '//                        false for booleans and choices)',
    '//   min_items, max_items the length of a list (0, 0 for the others)',
    '//   required             the native constructor requires it (every option with a default); false: it may',
    '//                        be absent, which the member holds as an empty list',
    '//   spiking, nonspiking  the default in each mode, at dt = 1 with the table\'s other defaults (layers',
    '//                        [500, 10], nIn 784), parenthesised: (8), (true), (FeedbackKind::Random), ({0.21, 0.21})',
    '// and, after each Choice option, one row per choice in the table\'s order:',
    '//   DENDRITE_SEG_CHOICE(name, type, index, choice, enumerator)',
    '// (the enum\'s enumerators must follow the choices: enumerator == index, checked in segregated.cpp).',
    '// The includer defines the macros it uses; the others expand to nothing. Both are undefined at the end.',
    '',
    '#ifndef DENDRITE_SEG_OPTION',
    '#define DENDRITE_SEG_OPTION(name, member, kind, type, min, exclusive_min, max, exclusive_max, min_items, max_items, \\',
    '                            required, spiking, nonspiking)',
    '#endif',
    '#ifndef DENDRITE_SEG_CHOICE',
    '#define DENDRITE_SEG_CHOICE(name, type, index, choice, enumerator)',
    '#endif',
    '',
  ];
  for (const name of names) {
    if (NOT_NATIVE.includes(name)) continue;
    const spec = table[name];
    const member = MEMBERS[name];
    const list = spec.type === 'numberList' || spec.type === 'integerList';
    const required = spec.default !== undefined;
    if (!required && !list) {
      throw new Error(`option ${name} has no default and is not a list: seg::Config cannot hold its absence`);
    }
    const type = spec.type === 'choice' ? ENUMS[name] : TYPE[spec.type];
    if (!type) throw new Error(`option ${name}: no C++ type for ${spec.type}${spec.type === 'choice' ? ' (add it to ENUMS)' : ''}`);
    const ranged = spec.type !== 'boolean' && spec.type !== 'choice';
    const integer = spec.type === 'integer' || spec.type === 'integerList';
    const range = ranged
      ? [literal(spec.min, integer, name), String(!!spec.exclusiveMin), literal(spec.max, integer, name), String(!!spec.exclusiveMax)]
      : ['0', 'false', '0', 'false'];
    const items = list ? [String(spec.minItems), String(spec.maxItems)] : ['0', '0'];
    const dflt = (mode) => {
      const v = defaults[mode][name];
      if (v === undefined) {
        if (required) throw new Error(`option ${name}: its default is undefined in mode ${mode} at dt = 1`);
        return '({})';
      }
      return cppValue(name, spec, v);
    };
    const doc = spec.doc.replace(/\s+/g, ' ').replace(/\\/g, '/');  // no line splice in a comment
    lines.push(`// ${doc}${spec.when ? ` (applies when ${Object.entries(spec.when).map(([k, vs]) => `${k} is ${vs.join(' or ')}`).join(' and ')})` : ''}`);
    lines.push(`DENDRITE_SEG_OPTION("${name}", ${member}, ${KIND[spec.type]}, ${type}, ${range.join(', ')}, ${items.join(', ')}, ` +
      `${required}, ${dflt('spiking')}, ${dflt('nonspiking')})`);
    if (spec.type === 'choice') {
      spec.choices.forEach((c, i) => lines.push(`DENDRITE_SEG_CHOICE("${name}", ${type}, ${i}, "${c}", ${enumerator(name, c)})`));
    }
  }
  lines.push('', '#undef DENDRITE_SEG_OPTION', '#undef DENDRITE_SEG_CHOICE', '');
  return lines.join('\n');
}

function loadCompiled() {
  const dist = path.join(root, 'dist', 'src', 'models');
  const file = path.join(dist, 'segregated-options.js');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npx tsc -p tsconfig.json first`);
  const { SEGREGATED_OPTIONS } = require(file);
  const { resolveOptions } = require(path.join(dist, 'options.js'));
  return { table: SEGREGATED_OPTIONS, resolveOptions };
}

module.exports = { generate, OUT, MEMBERS, NOT_NATIVE };

if (require.main === module) {
  const { table, resolveOptions } = loadCompiled();
  const text = generate(table, resolveOptions);
  if (process.argv.includes('--check')) {
    const now = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
    if (now !== text) {
      console.error(`${path.relative(root, OUT)} differs from SEGREGATED_OPTIONS: run node scripts/gen-segregated-options.js`);
      process.exit(1);
    }
    console.log(`${path.relative(root, OUT)} is up to date`);
  } else {
    fs.writeFileSync(OUT, text);
    console.log(`wrote ${path.relative(root, OUT)}`);
  }
}
