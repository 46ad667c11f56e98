// Search spaces: typed parameters (float, int, bool, categorical) with optional conditions on a
// parent parameter, and constraints given as functions. A space checks itself when built and
// checks the parameter sets it is given; docs/bo.md "Search spaces".
import { conditionHolds, nearestName, type OptionTable } from '../models/options';
import { resolveOptions } from '../models/options';

export type ParamValue = number | string | boolean;
/** One parameter set: a value for every active parameter (inactive ones are absent). */
export type Params = Record<string, ParamValue>;

/** Active only when `parent` is active and has one of `values`. */
export interface ParamCondition {
  parent: string;
  values: readonly ParamValue[];
}

interface ParamBase {
  /** When the parameter applies; a list means all of them must hold. */
  condition?: ParamCondition | readonly ParamCondition[];
}
export interface FloatParam extends ParamBase {
  type: 'float';
  low: number;
  high: number;
  /** Searched on a log scale (low must be > 0). */
  log?: boolean;
}
export interface IntParam extends ParamBase {
  type: 'int';
  low: number;
  high: number;
  /** Searched on a log scale (low must be >= 1). */
  log?: boolean;
}
export interface BoolParam extends ParamBase {
  type: 'bool';
}
export interface CategoricalParam extends ParamBase {
  type: 'categorical';
  choices: readonly ParamValue[];
}
export type ParamSpec = FloatParam | IntParam | BoolParam | CategoricalParam;

/**
 * A constraint on a whole parameter set: true when it is allowed; false or a reason (a string)
 * when not. A set that breaks a constraint is recorded as an infeasible trial, not evaluated.
 */
export type Constraint = (params: Readonly<Params>) => boolean | string;

export interface SpaceOptions {
  constraints?: Constraint | readonly Constraint[];
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function conditionsOf(spec: ParamSpec): readonly ParamCondition[] {
  const c = spec.condition;
  return c === undefined ? [] : Array.isArray(c) ? c : [c as ParamCondition];
}

/** A validated search space. Parameters are kept parents-first (else in declaration order). */
export class Space {
  /** Parameter names, every parent before its children. */
  readonly names: readonly string[];
  readonly params: Readonly<Record<string, ParamSpec>>;
  readonly constraints: readonly Constraint[];

  constructor(params: Readonly<Record<string, ParamSpec>>, options: SpaceOptions = {}) {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw new TypeError('space: parameters must be an object of name: spec');
    }
    const declared = Object.keys(params);
    if (declared.length === 0) throw new RangeError('space: no parameters');
    for (const name of declared) checkSpec(name, params[name], params);
    this.names = topologicalOrder(params);
    this.params = Object.freeze(Object.fromEntries(this.names.map((n) => [n, params[n]])));
    const c = options.constraints;
    this.constraints = c === undefined ? [] : typeof c === 'function' ? [c] : [...c];
    this.constraints.forEach((f, i) => {
      if (typeof f !== 'function') throw new TypeError(`space: constraint ${i} is not a function`);
    });
  }

  /** Whether `name` applies given the values of the other parameters. */
  isActive(name: string, params: Readonly<Params>): boolean {
    const spec = this.params[name];
    if (!spec) throw new RangeError(`space: unknown parameter "${name}"`);
    return conditionsOf(spec).every(
      (c) => this.isActive(c.parent, params) && params[c.parent] !== undefined && c.values.includes(params[c.parent]),
    );
  }

  /**
   * Why `params` is not a valid point of this space (unknown name, missing active parameter,
   * wrong type, out of range, a value for an inactive parameter), or undefined when it is.
   * Constraints are not checked here: see `violation`.
   */
  invalid(params: Readonly<Params>): string | undefined {
    if (typeof params !== 'object' || params === null) return 'parameters must be an object';
    for (const k of Object.keys(params)) {
      if (!Object.prototype.hasOwnProperty.call(this.params, k)) {
        const near = nearestName(k, this.names);
        return `unknown parameter "${k}"${near ? ` (did you mean "${near}"?)` : ''}`;
      }
    }
    for (const name of this.names) {
      const active = this.isActive(name, params);
      const v = params[name];
      if (!active) {
        if (v !== undefined) return `parameter ${name} is given but does not apply (${conditionText(this.params[name])})`;
        continue;
      }
      if (v === undefined) return `parameter ${name} is missing`;
      const why = valueProblem(this.params[name], v);
      if (why) return `parameter ${name} ${why}`;
    }
    return undefined;
  }

  /** The first constraint `params` breaks, as a reason; undefined when all hold. */
  violation(params: Readonly<Params>): string | undefined {
    for (let i = 0; i < this.constraints.length; i++) {
      const r = this.constraints[i](params);
      if (r === true) continue;
      if (typeof r === 'string') return r === '' ? `constraint ${i + 1} failed` : r;
      if (r === false) return `constraint ${i + 1}${this.constraints[i].name ? ` (${this.constraints[i].name})` : ''} failed`;
      throw new TypeError(`space: constraint ${i + 1} returned ${typeof r}; it must return true, false or a reason`);
    }
    return undefined;
  }

  /** This space with more constraints. */
  withConstraints(...more: Constraint[]): Space {
    return new Space(this.params, { constraints: [...this.constraints, ...more] });
  }
}

function conditionText(spec: ParamSpec): string {
  return conditionsOf(spec)
    .map((c) => `applies when ${c.parent} is ${c.values.map(show).join(' or ')}`)
    .join(' and ');
}

/** Why value `v` does not fit `spec`, or undefined. */
export function valueProblem(spec: ParamSpec, v: unknown): string | undefined {
  switch (spec.type) {
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a finite number, got ${show(v)}`;
      return v < spec.low || v > spec.high ? `must be in [${spec.low}, ${spec.high}], got ${v}` : undefined;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return `must be an integer, got ${show(v)}`;
      return v < spec.low || v > spec.high ? `must be in [${spec.low}, ${spec.high}], got ${v}` : undefined;
    case 'bool':
      return typeof v === 'boolean' ? undefined : `must be true or false, got ${show(v)}`;
    case 'categorical':
      return spec.choices.includes(v as ParamValue) ? undefined : `must be one of ${spec.choices.map(show).join(', ')}, got ${show(v)}`;
  }
}

function checkSpec(name: string, spec: ParamSpec, all: Readonly<Record<string, ParamSpec>>): void {
  const fail = (m: string): never => {
    throw new RangeError(`space: parameter ${name} ${m}`);
  };
  if (typeof spec !== 'object' || spec === null) fail('must be a spec object');
  switch (spec.type) {
    case 'float':
    case 'int': {
      const { low, high } = spec;
      if (typeof low !== 'number' || Number.isNaN(low) || typeof high !== 'number' || Number.isNaN(high)) {
        fail(`needs numeric low and high, got ${show(low)} and ${show(high)}`);
      }
      if (!Number.isFinite(low) || !Number.isFinite(high)) fail(`needs finite bounds, got [${low}, ${high}]`);
      if (spec.type === 'int' && (!Number.isInteger(low) || !Number.isInteger(high))) fail(`needs integer bounds, got [${low}, ${high}]`);
      if (low >= high) fail(`needs low < high, got low ${low} and high ${high}`);
      if (spec.log && spec.type === 'float' && low <= 0) fail(`is on a log scale and needs low > 0, got ${low}`);
      if (spec.log && spec.type === 'int' && low < 1) fail(`is on a log scale and needs low >= 1, got ${low}`);
      if (spec.log !== undefined && typeof spec.log !== 'boolean') fail('has a non-boolean log flag');
      break;
    }
    case 'bool':
      break;
    case 'categorical': {
      if (!Array.isArray(spec.choices) || spec.choices.length === 0) fail('needs a non-empty list of choices');
      spec.choices.forEach((c, i) => {
        if (!['string', 'number', 'boolean'].includes(typeof c) || (typeof c === 'number' && !Number.isFinite(c))) {
          fail(`has choice ${i} that is not a string, finite number or boolean: ${show(c)}`);
        }
        if (spec.choices.indexOf(c) !== i) fail(`lists choice ${show(c)} twice`);
      });
      break;
    }
    default:
      fail(`has unknown type ${show((spec as { type?: unknown }).type)} (float, int, bool or categorical)`);
  }
  for (const c of conditionsOf(spec)) {
    if (typeof c !== 'object' || c === null || typeof c.parent !== 'string') fail('has a condition without a parent name');
    const parent = all[c.parent];
    if (!parent) {
      const near = nearestName(c.parent, Object.keys(all));
      fail(`has a condition on unknown parameter "${c.parent}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
    if (c.parent === name) fail('has a condition on itself');
    if (parent.type === 'float') fail(`has a condition on float parameter ${c.parent} (conditions need a bool, int or categorical parent)`);
    if (!Array.isArray(c.values) || c.values.length === 0) fail(`has a condition on ${c.parent} without values`);
    for (const v of c.values) {
      const why = valueProblem(parent, v);
      if (why) fail(`has a condition value ${show(v)} that ${c.parent} cannot take: it ${why}`);
    }
  }
}

/** Parents before children, otherwise declaration order; throws on a cycle, naming it. */
function topologicalOrder(params: Readonly<Record<string, ParamSpec>>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new RangeError(`space: conditions form a cycle: ${cycle.join(' -> ')}`);
    }
    state.set(name, 'visiting');
    for (const c of conditionsOf(params[name])) visit(c.parent, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(params)) visit(name, []);
  return order;
}

/** Options for `spaceFromOptionTable`. */
export interface FromTableOptions {
  /**
   * Values of options outside the space, used to decide conditions on them (an option whose
   * parent is not searched is kept only when the parent's value, given here or its default,
   * satisfies the condition).
   */
  fixed?: Readonly<Record<string, unknown>>;
}

/**
 * The search space of a model's option table (src/models/options.ts): numbers and integers with a
 * `search` range become float and int parameters (log-scaled where the table says `log`),
 * booleans and choices marked `search: true` become bool and categorical ones, and `when`
 * conditions become parameter conditions. `names` selects options (default: every option with a
 * search range or flag); a named boolean or choice need not be marked, a named number must have a
 * range, and lists cannot be searched. A condition on an option outside the space is decided
 * once from `fixed` or that option's default: an option that then never applies is dropped when
 * chosen by default and refused when named.
 */
export function spaceFromOptionTable(table: OptionTable, names?: readonly string[], options: FromTableOptions = {}): Space {
  const all = Object.keys(table);
  const explicit = names !== undefined;
  const chosen = names ?? all.filter((n) => {
    const s = table[n];
    return (s.type === 'number' || s.type === 'integer') ? s.search !== undefined : (s.type === 'boolean' || s.type === 'choice') && s.search === true;
  });
  for (const n of chosen) {
    if (!Object.prototype.hasOwnProperty.call(table, n)) {
      const near = nearestName(n, all);
      throw new RangeError(`space: unknown option "${n}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
  }
  const inSpace = new Set(chosen);
  const fixed = options.fixed ?? {};
  for (const k of Object.keys(fixed)) {
    if (inSpace.has(k)) throw new RangeError(`space: option ${k} is both searched and fixed`);
  }
  // Values of everything outside the space: what `fixed` gives, else the defaults.
  const outside = resolveOptions('space', table, fixed) as Record<string, unknown>;
  const params: Record<string, ParamSpec> = {};
  // Table order already puts parents first; an option whose condition fails outside is left out,
  // and so are its children (their parent is then missing).
  for (const name of all) {
    if (!inSpace.has(name)) continue;
    const spec = table[name];
    const conditions: ParamCondition[] = [];
    let applies = true;
    for (const [parent, values] of Object.entries(spec.when ?? {})) {
      if (inSpace.has(parent)) {
        if (!params[parent]) applies = false;
        else conditions.push({ parent, values: [...values] });
      } else if (!conditionHolds({ [parent]: values }, outside)) {
        applies = false;
      }
    }
    if (!applies) {
      if (explicit) {
        throw new RangeError(`space: option ${name} never applies with the fixed options (it needs ${
          Object.entries(spec.when ?? {}).map(([k, v]) => `${k} in [${v.map(show).join(', ')}]`).join(' and ')})`);
      }
      continue;
    }
    const condition = conditions.length === 0 ? {} : { condition: conditions.length === 1 ? conditions[0] : conditions };
    switch (spec.type) {
      case 'number':
      case 'integer': {
        if (!spec.search) throw new RangeError(`space: option ${name} has no search range in its table`);
        const [low, high] = spec.search;
        params[name] = { type: spec.type === 'number' ? 'float' : 'int', low, high, ...(spec.log ? { log: true } : {}), ...condition };
        break;
      }
      case 'boolean':
        params[name] = { type: 'bool', ...condition };
        break;
      case 'choice':
        params[name] = { type: 'categorical', choices: [...spec.choices], ...condition };
        break;
      default:
        throw new RangeError(`space: option ${name} is a ${spec.type}; lists cannot be searched (fix them instead)`);
    }
  }
  return new Space(params);
}
