// The figure description the report's own SVG renderer draws (src/report/svg/render.ts). It is
// shaped like Vega-Lite, so a reader who knows Vega-Lite can read src/report/figures.ts, but it is
// our own, smaller language: only what the figures use, with these differences: facet panels and
// nominal domains without `sort` keep the data's order of appearance (panels) or sort ascending
// (axes and legends), bars never stack, and the styling is fixed (no `config`).

/** A data row. */
export type Datum = Readonly<Record<string, unknown>>;

export interface ScaleDef {
  /** Quantitative fields: 'linear' (default) or 'log' (non-positive values are then left out). */
  type?: 'linear' | 'log';
  /** Quantitative: [min, max] (not widened or rounded); nominal: the categories in order. */
  domain?: readonly (number | string)[];
  /** Widen the domain to include 0 (default: true on y, false on x). */
  zero?: boolean;
  /** strokeDash: the dash array of each domain entry, in order. */
  range?: readonly (readonly number[])[];
}

export interface AxisDef {
  /** Tick labels and the values in aria-labels: '', 'd', '.1%', ',.2f' (d3-format style; default: from the tick step). */
  format?: string;
  /** No ticks closer than this (1: integer ticks). */
  tickMinStep?: number;
  orient?: 'top' | 'bottom';
}

export interface FieldDef {
  field: string;
  type: 'quantitative' | 'nominal';
  /** Axis or legend title and the name in aria-labels; default the field name; null: no axis title. */
  title?: string | null;
  /** y of a line: the mean over the rows of each x and series. */
  aggregate?: 'mean';
  /** x of a bar: the field binned into at most maxbins bins of a round width. */
  bin?: { maxbins: number };
  scale?: ScaleDef;
  /** null: no axis. */
  axis?: AxisDef | null;
  /** null: no legend. */
  legend?: null;
  /** Nominal axes: null keeps the order of appearance (default ascending). */
  sort?: null;
}

/** y of a binned bar: the number of rows in each bin. */
export interface CountDef {
  aggregate: 'count';
  type: 'quantitative';
  title?: string;
}

/** A constant position in pixels from the panel's left or top. */
export interface ValueDef {
  value: number;
}

export interface Encoding {
  x?: FieldDef | ValueDef;
  /** A rect's right edge (same scale as x). */
  x2?: { field: string };
  y?: FieldDef | ValueDef | CountDef;
  color?: FieldDef;
  strokeDash?: FieldDef;
  /** Splits lines into one per value (no visual channel). */
  detail?: { field: string; type: 'nominal' };
  text?: { field: string };
}

export interface MarkDef {
  type: 'line' | 'point' | 'rule' | 'text' | 'rect' | 'bar' | 'errorband' | 'boxplot';
  /** line: a filled point at each vertex. */
  point?: boolean;
  interpolate?: 'linear' | 'step-after';
  shape?: 'circle' | 'square';
  /** point: filled (default: an outline). */
  filled?: boolean;
  /** point: the symbol's area in square pixels (default 30). */
  size?: number;
  color?: string;
  opacity?: number;
  strokeWidth?: number;
  strokeDash?: readonly number[];
  /** text */
  align?: 'left' | 'center' | 'right';
  dx?: number;
  dy?: number;
  fontSize?: number;
  /** errorband: 'stdev' (mean ± sample sd); boxplot: whiskers reach this many IQRs (default 1.5). */
  extent?: 'stdev' | number;
}

export interface Filter {
  filter: { field: string; equal: string | number };
}

export interface LayerSpec {
  mark: MarkDef;
  encoding: Encoding;
  transform?: readonly Filter[];
}

/** One panel: a mark or layers of marks, width x height pixels (default 200; a nominal y: 20 per category). */
export type ViewSpec = { width?: number; height?: number } & ({ layer: readonly LayerSpec[] } | LayerSpec);

/** Facet panels: in order of first appearance unless `sort` lists the values. */
export interface FacetField {
  field: string;
  sort?: readonly string[];
}

export type Chart = {
  data: { values: readonly Datum[] };
  /** Facets and concatenations share position scales unless independent here (concatenated views never share). */
  resolve?: { scale: { x?: 'independent'; y?: 'independent' } };
} & (
  | ViewSpec
  /** One panel per value, `columns` to a row (default: all in one row); or a grid of row x column values. */
  | { facet: FacetField | { row?: FacetField; column?: FacetField }; columns?: number; spec: ViewSpec }
  | { vconcat: readonly ViewSpec[] }
);
