import { describe, expect, it } from 'vitest';
import { documentContentType, ExtractionError, extractText } from '#adapters/extraction/text.ts';
import { chunkText } from '#domain/chunking.ts';

/** A minimal PDF whose pages hold these lines of text (Helvetica, one text object a page). */
const pdfOf = (pages: readonly (readonly string[])[]): Uint8Array => {
  const pdfString = (text: string) => text.replace(/[\\()]/g, (c) => `\\${c}`);
  const objects: string[] = [];
  const pageIds = pages.map((_, i) => 4 + i * 2);
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`;
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>';
  pages.forEach((lines, i) => {
    const stream = `BT /F1 18 Tf 72 720 Td ${lines.map((line) => `(${pdfString(line)}) Tj 0 -24 Td`).join(' ')} ET`;
    objects[pageIds[i]!] =
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${pageIds[i]! + 1} 0 R /Resources << /Font << /F1 3 0 R >> >> >>`;
    objects[pageIds[i]! + 1] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  });
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (let id = 1; id < objects.length; id += 1) {
    offsets[id] = out.length;
    out += `${id} 0 obj\n${objects[id]}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objects.length; id += 1) out += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(out);
};

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('document text extraction', () => {
  it('knows the five content types, whatever their parameters and case', () => {
    expect(documentContentType('text/markdown; charset=utf-8')).toBe('text/markdown');
    expect(documentContentType('Application/PDF')).toBe('application/pdf');
    expect(documentContentType('image/png')).toBeUndefined();
    expect(documentContentType('text/csv')).toBeUndefined();
  });

  it('reads plain text and markdown as they are, and refuses bytes that are not UTF-8', async () => {
    expect(await extractText('text/markdown', new TextEncoder().encode('# Title\n\nBody'))).toBe(
      '# Title\n\nBody',
    );
    expect(await extractText('text/plain', 'as posted')).toBe('as posted');
    const failure = await failureOf(extractText('text/plain', new Uint8Array([0xff, 0xfe, 0x41])));
    expect(failure).toBeInstanceOf(ExtractionError);
    expect((failure as Error).message).toBe('the document is not valid UTF-8 text');
  });

  it('turns HTML into text with its headings as markdown headings, without scripts, styles or images', async () => {
    const html = `<html><head><style>p { color: red }</style><script>alert(1)</script></head><body>
      <h1>Install</h1><p>Run the <a href="https://example.com/x">installer</a>.</p><img src="x.png" alt="diagram">
      <h2>Linux</h2><p>Use the package.</p></body></html>`;
    const text = await extractText('text/html', html);
    expect(text).toBe('# Install\n\nRun the installer.\n\n## Linux\n\nUse the package.');
    // The chunker finds the sections.
    expect(chunkText(text).map((chunk) => chunk.heading)).toEqual(['Install', 'Install > Linux']);
  });

  it('turns JSON into one `path: value` line per value, and refuses what does not parse', async () => {
    const json = JSON.stringify({
      product: 'Switchyard',
      limits: { rps: 10000 },
      tags: ['ai', 'aws'],
      empty: null,
    });
    expect(await extractText('application/json', json)).toBe(
      'product: Switchyard\nlimits.rps: 10000\ntags[0]: ai\ntags[1]: aws',
    );
    expect(await failureOf(extractText('application/json', '{"open":'))).toBeInstanceOf(ExtractionError);
  });

  it('reads a PDF’s text layer, page by page', async () => {
    const pdf = pdfOf([['Knowledge bases (overview)', 'Documents become chunks.'], ['Second page: search']]);
    expect(await extractText('application/pdf', pdf)).toBe(
      'Knowledge bases (overview)\nDocuments become chunks.\n\nSecond page: search',
    );
  });

  it('fails a PDF that cannot be read, or that has no text layer, with a reason', async () => {
    const broken = await failureOf(
      extractText('application/pdf', new TextEncoder().encode('%PDF-1.4 not really')),
    );
    expect(broken).toBeInstanceOf(ExtractionError);
    expect((broken as Error).message).toMatch(/^the PDF could not be read/);
    const blank = await failureOf(extractText('application/pdf', pdfOf([[]])));
    expect(blank).toBeInstanceOf(ExtractionError);
    expect((blank as Error).message).toBe('the PDF has no text layer (a scan needs OCR first)');
  });
});
