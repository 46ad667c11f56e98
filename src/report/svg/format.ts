// Number formats (the d3-format specifiers the figures use, so labels read as before), text
// escaping, estimated text widths and the SVG element writer.

const MINUS = '\u2212'; // d3-format's minus sign, which the report's labels have always used

function group(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** '1.50000e-7' -> '1.5e-7', '2400.000' -> '2400': d3's `~` (trim insignificant zeros). */
function trim(s: string): string {
  const [m, e] = s.split('e');
  const t = m.includes('.') ? m.replace(/\.?0+$/, '') : m;
  return e === undefined ? t : `${t}e${e}`;
}

/**
 * Formats a number like d3-format: '' (12 significant digits, zeros trimmed), 'd' (rounded),
 * '.Nf', ',.Nf' (grouped thousands), '.N%', '.N~g'. Throws on any other specifier.
 */
export function formatNumber(x: number, spec = ''): string {
  const m = /^(,)?(?:\.(\d+))?(~?[fgd%])?$/.exec(spec);
  if (!m) throw new RangeError(`number format ${JSON.stringify(spec)}: supported are '', 'd', '.Nf', ',.Nf', '.N%', '.N~g'`);
  if (!Number.isFinite(x)) return String(x);
  const [, comma, digits, type = '~g'] = m;
  const p = digits === undefined ? undefined : Number(digits);
  const a = Math.abs(x);
  let s: string;
  if (type === 'd') s = String(Math.round(a));
  else if (type === '%') s = `${(a * 100).toFixed(p ?? 0)}%`;
  else if (type.endsWith('f')) s = a.toFixed(p ?? 6);
  else s = a.toPrecision(p ?? 12);
  if (type.startsWith('~')) s = trim(s);
  if (comma) s = s.replace(/^\d+/, group);
  // no minus for a value that rounds to zero (d3 likewise)
  return x < 0 && /[1-9]/.test(s.replace(/e.*/, '')) ? MINUS + s : s;
}

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

// Average advance widths of sans-serif glyphs in em (no font metrics without a canvas): narrow
// letters, wide letters, everything else. Over-estimates a little, so labels keep their room.
const NARROW = /[ijlI.,:;'!|()[\]\s]/, WIDE = /[mwMW@%‖]/;

/** Estimated width in pixels of `s` at `size` px. */
export function textWidth(s: string, size: number): number {
  let em = 0;
  for (const c of s) em += NARROW.test(c) ? 0.3 : WIDE.test(c) ? 0.85 : /[A-Z0-9]/.test(c) ? 0.62 : 0.55;
  return em * size;
}

/** A coordinate, rounded to 3 decimals; a non-finite one is a renderer bug, not a drawing. */
export function px(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`svg: non-finite coordinate ${x}`);
  const r = Math.round(x * 1000) / 1000;
  return String(r === 0 ? 0 : r);
}

export type Attrs = Record<string, string | number | undefined>;

/** An SVG element: attributes in the given order (undefined ones left out), numbers rounded. */
export function el(tag: string, attrs: Attrs, content?: string): string {
  let a = '';
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a += ` ${k}="${typeof v === 'number' ? px(v) : esc(v)}"`;
  return content === undefined ? `<${tag}${a}/>` : `<${tag}${a}>${content}</${tag}>`;
}
