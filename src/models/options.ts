// Model options as data. Each model kind describes its options once, in one table (name, type,
// default, valid range, search scale, when it applies, a one-line doc). From that table come:
// validation with errors that name the option, defaults (including those that depend on other
// options, such as the segregated network's mode or dt), the TypeScript type of the resolved
// options, the JSON Schema shipped in the package (schemas/), the CLI flags, and the ranges a
// hyperparameter search draws from.

/** When an option applies: every listed option must have one of the listed values. */
export type Condition = Readonly<Record<string, readonly (string | number | boolean)[]>>;

interface Common {
  /** One line, shown in --help, the schema and the docs. */
  readonly doc: string;
  /** Only meaningful when these options have these values (a search neither samples nor models it otherwise). */
  readonly when?: Condition;
}

/** A default: a value, or computed from the options resolved before this one (table order; undefined: none). */
export type Default<T> = T | ((resolved: Readonly<Record<string, unknown>>) => T | undefined);

export interface NumberOption extends Common {
  readonly type: 'number' | 'integer';
  readonly default?: Default<number>;
  readonly min: number;
  readonly max: number;
  /** The bound itself is not allowed. */
  readonly exclusiveMin?: boolean;
  readonly exclusiveMax?: boolean;
  /** A search draws it on a log scale. */
  readonly log?: boolean;
  /** The range a hyperparameter search draws from (inside [min, max]); absent: not searched by default. */
  readonly search?: readonly [number, number];
}

export interface BooleanOption extends Common {
  readonly type: 'boolean';
  readonly default?: Default<boolean>;
  readonly search?: true;
}

export interface ChoiceOption extends Common {
  readonly type: 'choice';
  readonly choices: readonly string[];
  readonly default?: Default<string>;
  readonly search?: true;
}

export interface ListOption extends Common {
  readonly type: 'numberList' | 'integerList';
  readonly default?: Default<number[]>;
  /** Range of every entry. */
  readonly min: number;
  readonly max: number;
  readonly exclusiveMin?: boolean;
  readonly minItems: number;
  readonly maxItems: number;
  /** Entries are drawn on a log scale by a search. */
  readonly log?: boolean;
}

export type OptionSpec = NumberOption | BooleanOption | ChoiceOption | ListOption;
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The TypeScript value type of one option. */
export type OptionValue<S extends OptionSpec> = S extends ChoiceOption
  ? S['choices'][number]
  : S extends BooleanOption
    ? boolean
    : S extends ListOption
      ? number[]
      : number;

/** Options as a user gives them: every one optional. */
export type GivenOptions<T extends OptionTable> = { -readonly [K in keyof T]?: OptionValue<T[K]> };
type WithDefault<T extends OptionTable> = { [K in keyof T]: T[K] extends { readonly default: unknown } ? K : never }[keyof T];
/** Options after resolution: those with a default are present; the others when given. */
export type ResolvedOptions<T extends OptionTable> = { -readonly [K in WithDefault<T>]: OptionValue<T[K]> } & {
  -readonly [K in Exclude<keyof T, WithDefault<T>>]?: OptionValue<T[K]>;
};

/** A wrong option: a TypeError (wrong type, unknown name) or RangeError (wrong value) that names it. */
export type OptionError = (TypeError | RangeError) & { option: string; code: 'ERR_DENDRITE_OPTION' };

export function optionError(where: string, option: string, message: string, type = false): OptionError {
  const e = (type ? new TypeError() : new RangeError()) as OptionError;
  e.message = `${where}: ${option === '' ? '' : `option ${option} `}${message}`;
  e.option = option;
  e.code = 'ERR_DENDRITE_OPTION';
  return e;
}

export function isOptionError(e: unknown): e is OptionError {
  return e instanceof Error && (e as { code?: unknown }).code === 'ERR_DENDRITE_OPTION';
}

/** Edit distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** The known name closest to `name` when it is close enough to be a likely typo. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dk = distance(name.toLowerCase(), k.toLowerCase());
    if (dk < bestD) {
      best = k;
      bestD = dk;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.join(', ')}]` : String(v);
}

function rangeText(o: { min: number; max: number; exclusiveMin?: boolean; exclusiveMax?: boolean }): string {
  return `${o.exclusiveMin ? '(' : '['}${o.min}, ${o.max}${o.exclusiveMax ? ')' : ']'}`;
}

function inRange(x: number, o: { min: number; max: number; exclusiveMin?: boolean; exclusiveMax?: boolean }): boolean {
  return Number.isFinite(x) && (o.exclusiveMin ? x > o.min : x >= o.min) && (o.exclusiveMax ? x < o.max : x <= o.max);
}

/** Checks one value against its spec; returns it (lists copied). Throws OptionError. */
export function checkOption(where: string, name: string, spec: OptionSpec, v: unknown): unknown {
  const fail = (m: string, type = false): never => {
    throw optionError(where, name, m, type);
  };
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof v !== 'number') fail(`must be ${spec.type === 'integer' ? 'an integer' : 'a number'}, got ${typeof v}`, true);
      const x = v as number;
      if (spec.type === 'integer' && !Number.isInteger(x)) fail(`must be an integer, got ${x}`);
      if (!inRange(x, spec)) fail(`must be in ${rangeText(spec)}, got ${x}`);
      return x;
    }
    case 'boolean':
      if (typeof v !== 'boolean') fail(`must be true or false, got ${show(v)}`, true);
      return v;
    case 'choice':
      if (typeof v !== 'string') fail(`must be one of ${spec.choices.map((c) => `"${c}"`).join(', ')}`, true);
      if (!spec.choices.includes(v as string)) {
        const near = nearestName(v as string, spec.choices);
        fail(`must be one of ${spec.choices.map((c) => `"${c}"`).join(', ')}, got "${String(v)}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
      return v;
    case 'numberList':
    case 'integerList': {
      const what = spec.type === 'integerList' ? 'integers' : 'numbers';
      if (!Array.isArray(v) || !v.every((e) => typeof e === 'number')) fail(`must be an array of ${what}`, true);
      const a = v as number[];
      if (a.length < spec.minItems || a.length > spec.maxItems) {
        fail(`must list ${spec.minItems === spec.maxItems ? spec.minItems : `${spec.minItems} to ${spec.maxItems}`} ${what}, got ${a.length}`);
      }
      a.forEach((x, i) => {
        if (spec.type === 'integerList' && !Number.isInteger(x)) fail(`entry ${i} must be an integer, got ${x}`);
        if (!inRange(x, spec)) fail(`entry ${i} must be in ${rangeText(spec)}, got ${x}`);
      });
      return [...a];
    }
  }
}

/** Whether the condition holds for the options resolved so far. */
export function conditionHolds(when: Condition | undefined, resolved: Readonly<Record<string, unknown>>): boolean {
  if (!when) return true;
  return Object.entries(when).every(([k, values]) => values.includes(resolved[k] as string | number | boolean));
}

function conditionText(when: Condition): string {
  return Object.entries(when).map(([k, vs]) => `${k} is ${vs.map(show).join(' or ')}`).join(' and ');
}

/**
 * Checks `given` against `table` and fills in defaults, in table order (a computed default sees
 * every option before it). Unknown options and options given where they do not apply are errors
 * that name the option and say what is allowed. An option without a default that is not given is
 * left out (the model decides whether it is required).
 */
export function resolveOptions<T extends OptionTable>(where: string, table: T, given: Readonly<Record<string, unknown>>): ResolvedOptions<T> {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw optionError(where, '', 'options must be an object', true);
  }
  const names = Object.keys(table);
  for (const k of Object.keys(given)) {
    if (given[k] === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(table, k)) {
      const near = nearestName(k, names);
      throw optionError(where, '', `unknown option "${k}"${near ? ` (did you mean "${near}"?)` : ''}; the options are ${names.join(', ')}`, true);
    }
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const spec = table[name];
    const v = given[name];
    if (v !== undefined) {
      if (spec.when && !conditionHolds(spec.when, out)) {
        throw optionError(where, name, `applies only when ${conditionText(spec.when)}`);
      }
      out[name] = checkOption(where, name, spec, v);
    } else if (spec.default !== undefined) {
      const d = typeof spec.default === 'function' ? (spec.default as (r: Record<string, unknown>) => unknown)(out) : spec.default;
      if (d !== undefined) out[name] = Array.isArray(d) ? [...d] : d;
    }
  }
  return out as ResolvedOptions<T>;
}

/** The active options of a resolved set (those whose condition holds). */
export function activeOptions(table: OptionTable, resolved: Readonly<Record<string, unknown>>): string[] {
  const seen: Record<string, unknown> = {};
  const active: string[] = [];
  for (const [name, spec] of Object.entries(table)) {
    if (conditionHolds(spec.when, seen)) active.push(name);
    if (resolved[name] !== undefined) seen[name] = resolved[name];
  }
  return active;
}

/** A JSON Schema (draft 2020-12) of the options a user may give. Computed defaults are described, not stated. */
export function optionsSchema(id: string, title: string, table: OptionTable): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const rules: Record<string, unknown>[] = [];
  for (const [name, spec] of Object.entries(table)) {
    const p: Record<string, unknown> = { description: spec.doc };
    switch (spec.type) {
      case 'number':
      case 'integer':
        p.type = spec.type;
        p[spec.exclusiveMin ? 'exclusiveMinimum' : 'minimum'] = spec.min;
        p[spec.exclusiveMax ? 'exclusiveMaximum' : 'maximum'] = spec.max;
        break;
      case 'boolean':
        p.type = 'boolean';
        break;
      case 'choice':
        p.type = 'string';
        p.enum = [...spec.choices];
        break;
      case 'numberList':
      case 'integerList':
        p.type = 'array';
        p.items = { type: spec.type === 'integerList' ? 'integer' : 'number',
          [spec.exclusiveMin ? 'exclusiveMinimum' : 'minimum']: spec.min, maximum: spec.max };
        p.minItems = spec.minItems;
        p.maxItems = spec.maxItems;
        break;
    }
    if (spec.default !== undefined && typeof spec.default !== 'function') p.default = spec.default;
    const x: Record<string, unknown> = {};
    if ('log' in spec && spec.log) x.log = true;
    if ('search' in spec && spec.search !== undefined) x.search = spec.search;
    if (spec.when) x.when = spec.when;
    if (typeof spec.default === 'function') x.computedDefault = true;
    if (Object.keys(x).length > 0) p['x-dendrite'] = x;
    properties[name] = p;
    if (spec.when) rules.push({ if: { not: conditionSchema(table, spec.when) }, then: { not: { required: [name] } } });
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: id,
    title,
    type: 'object',
    additionalProperties: false,
    properties,
    ...(rules.length > 0 ? { allOf: rules } : {}),
  };
}

/**
 * A schema that holds when the condition does. A parent left out counts as its default when the
 * default is a plain value; a computed default (it depends on other options) is taken to satisfy
 * the condition, so the schema is never stricter than resolveOptions, which has the last word.
 */
function conditionSchema(table: OptionTable, when: Condition): Record<string, unknown> {
  return {
    allOf: Object.entries(when).map(([k, values]) => {
      const given = { required: [k], properties: { [k]: { enum: [...values] } } };
      const d = table[k]?.default;
      const absentOk = d === undefined ? false : typeof d === 'function' || values.includes(d as string | number | boolean);
      return absentOk ? { anyOf: [{ not: { required: [k] } }, given] } : given;
    }),
  };
}

/** camelCase option name to its CLI flag: learningRates -> --learning-rates; EE -> --ee; gB -> --g-b. */
export function flagName(option: string): string {
  if (/^[A-Z]+$/.test(option)) return `--${option.toLowerCase()}`;
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Parses a CLI string for an option of this spec (lists comma-separated; booleans true/false). */
export function parseFlagValue(where: string, name: string, spec: OptionSpec, text: string | boolean): unknown {
  if (typeof text === 'boolean') return text;
  const t = text.trim();
  const fail = (): never => {
    throw optionError(where, name, `cannot read ${JSON.stringify(text)} as ${spec.type === 'boolean' ? 'true or false' : spec.type}`);
  };
  switch (spec.type) {
    case 'number':
    case 'integer':
      return t === '' || Number.isNaN(Number(t)) ? fail() : Number(t);
    case 'boolean':
      return t === 'true' ? true : t === 'false' ? false : fail();
    case 'choice':
      return t;
    case 'numberList':
    case 'integerList': {
      const parts = t.split(',').map((s) => s.trim());
      if (parts.some((s) => s === '' || Number.isNaN(Number(s)))) fail();
      return parts.map(Number);
    }
  }
}
