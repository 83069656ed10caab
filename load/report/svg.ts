/** Line charts as inline SVG strings: no library, no script, renders from a file:// URL. */

export interface Series {
  readonly label: string;
  readonly color: string;
  /** One value per x step (second); null leaves a gap. */
  readonly values: ReadonlyArray<number | null>;
  readonly dashed?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly Series[];
  /** Horizontal reference lines, e.g. thresholds. */
  readonly marks?: ReadonlyArray<{ label: string; value: number; color: string }>;
  readonly width?: number;
  readonly height?: number;
}

export const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Smallest 1, 2 or 5 × 10^k at or above `value`, so the axis ends on a round number. */
export const niceCeil = (value: number): number => {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const exponent = 10 ** Math.floor(Math.log10(value));
  const fraction = value / exponent;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * exponent;
};

const round = (n: number): string => String(Math.round(n * 10) / 10);

/**
 * SVG path data for `values`: x = index mapped by `x`, y by `y`. A null ends the current
 * segment and the next value starts a new one with M; a lone point becomes a tiny stroke.
 */
export const linePath = (
  values: ReadonlyArray<number | null>,
  x: (index: number) => number,
  y: (value: number) => number,
): string => {
  const parts: string[] = [];
  let drawing = false;
  let segmentLength = 0;
  values.forEach((value, index) => {
    if (value === null || !Number.isFinite(value)) {
      if (drawing && segmentLength === 1) parts.push('h0.1');
      drawing = false;
      return;
    }
    parts.push(`${drawing ? 'L' : 'M'}${round(x(index))},${round(y(value))}`);
    segmentLength = drawing ? segmentLength + 1 : 1;
    drawing = true;
  });
  if (drawing && segmentLength === 1) parts.push('h0.1');
  return parts.join(' ');
};

export const lineChart = (options: ChartOptions): string => {
  const width = options.width ?? 1000;
  const height = options.height ?? 300;
  const pad = { left: 64, right: 190, top: 32, bottom: 36 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const points = Math.max(2, ...options.series.map((s) => s.values.length));
  const observed = options.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  // Scaled to the data, not the limits: a 500 ms mark would flatten 20 ms lines into the axis.
  const yMax = niceCeil(Math.max(0, ...observed) * 1.1);
  const x = (i: number) => pad.left + (i / (points - 1)) * plotW;
  const y = (v: number) => pad.top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}" ` +
      'font-family="system-ui, sans-serif" font-size="12">',
    `<text x="${pad.left}" y="20" font-size="15" font-weight="600">${escapeXml(options.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i += 1) {
    const value = (yMax * i) / 4;
    const gy = round(y(value));
    out.push(
      `<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${gy}" y2="${gy}" stroke="#e3e3e3"/>`,
      `<text x="${pad.left - 6}" y="${gy}" dy="4" text-anchor="end" fill="#555">` +
        `${escapeXml(`${Number(value.toPrecision(3))} ${options.unit}`)}</text>`,
    );
  }
  // At most ~10 x labels, on whole seconds.
  const every = Math.max(1, Math.ceil((points - 1) / 10));
  for (let i = 0; i < points; i += every) {
    out.push(
      `<text x="${round(x(i))}" y="${pad.top + plotH + 18}" text-anchor="middle" fill="#555">${i}s</text>`,
    );
  }
  out.push(
    `<rect x="${pad.left}" y="${pad.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  for (const mark of options.marks ?? []) {
    if (mark.value > yMax) continue;
    const my = round(y(mark.value));
    out.push(
      `<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${my}" y2="${my}" stroke="${mark.color}" ` +
        'stroke-dasharray="6 4" stroke-width="1.5"/>',
    );
  }
  options.series.forEach((series, index) => {
    const d = linePath(series.values, x, y);
    if (d !== '') {
      out.push(
        `<path d="${d}" fill="none" stroke="${series.color}" stroke-width="2" stroke-linejoin="round"` +
          `${series.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
      );
    }
    const ly = pad.top + 8 + index * 18;
    out.push(
      `<rect x="${pad.left + plotW + 14}" y="${ly - 6}" width="14" height="4" fill="${series.color}"/>`,
      `<text x="${pad.left + plotW + 34}" y="${ly}">${escapeXml(series.label)}</text>`,
    );
  });
  (options.marks ?? []).forEach((mark, index) => {
    const ly = pad.top + 8 + (options.series.length + index) * 18;
    out.push(
      `<line x1="${pad.left + plotW + 14}" x2="${pad.left + plotW + 28}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${mark.color}" stroke-dasharray="4 2" stroke-width="1.5"/>`,
      `<text x="${pad.left + plotW + 34}" y="${ly}">` +
        `${escapeXml(mark.value > yMax ? `${mark.label} ↑` : mark.label)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
};
