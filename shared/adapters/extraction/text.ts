/**
 * A document's text, from the bytes it was posted or uploaded as: the chunker's input. Markdown
 * and plain text as they are; HTML to text with its headings kept as markdown headings (the
 * chunker splits sections at them); JSON as one `path: value` line per value; PDF from its
 * text layer. The HTML and PDF libraries are loaded on first use, by the ingestion worker only.
 */

export const documentContentTypes = [
  'text/plain',
  'text/markdown',
  'text/html',
  'application/json',
  'application/pdf',
] as const;
export type DocumentContentType = (typeof documentContentTypes)[number];

/** The media type of a Content-Type value (parameters and case dropped), if it is one we read. */
export const documentContentType = (value: string): DocumentContentType | undefined => {
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return (documentContentTypes as readonly string[]).includes(type)
    ? (type as DocumentContentType)
    : undefined;
};

/** Why a document's text could not be read: its `failed` reason, in words a tenant can act on. */
export class ExtractionError extends Error {
  override name = 'ExtractionError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const textOf = (content: Uint8Array | string): string => {
  if (typeof content === 'string') return content;
  try {
    return utf8.decode(content);
  } catch {
    throw new ExtractionError('the document is not valid UTF-8 text');
  }
};

/** One `path: value` line per scalar, so that keys and values are both searchable. */
const jsonLines = (value: unknown, path: string, lines: string[]): void => {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) jsonLines(item, `${path}[${i}]`, lines);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) jsonLines(item, path ? `${path}.${key}` : key, lines);
  } else if (value !== null && value !== '') {
    lines.push(path ? `${path}: ${String(value)}` : String(value));
  }
};

const fromJson = (text: string): string => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ExtractionError('the document is not valid JSON');
  }
  const lines: string[] = [];
  jsonLines(parsed, '', lines);
  return lines.join('\n');
};

type HtmlToText = typeof import('html-to-text');
let htmlToText: Promise<HtmlToText> | undefined;

const fromHtml = async (html: string): Promise<string> => {
  htmlToText ??= import('html-to-text');
  const { convert } = await htmlToText;
  const heading = (level: number) => ({
    selector: `h${level}`,
    format: 'markdownHeading',
    options: { level },
  });
  return convert(html, {
    wordwrap: false,
    formatters: {
      // `# Title` instead of an upper-cased line: the chunker keeps sections and their headings.
      markdownHeading: (element, walk, builder, options) => {
        builder.openBlock({ leadingLineBreaks: 2 });
        builder.addLiteral(`${'#'.repeat(Number((options as { level?: number }).level ?? 1))} `);
        walk(element.children, builder);
        builder.closeBlock({ trailingLineBreaks: 2 });
      },
    },
    selectors: [
      ...[1, 2, 3, 4, 5, 6].map(heading),
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'script', format: 'skip' },
      { selector: 'style', format: 'skip' },
    ],
  }).trim();
};

const fromPdf = async (bytes: Uint8Array): Promise<string> => {
  const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
  let document: Awaited<ReturnType<typeof getDocument>['promise']>;
  try {
    // No eval, no fonts: only the text layer is wanted, and the file is the tenant's.
    document = await getDocument({
      data: new Uint8Array(bytes),
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      verbosity: 0,
    }).promise;
  } catch (error) {
    throw new ExtractionError(`the PDF could not be read (${(error as Error).name})`);
  }
  try {
    const pages: string[] = [];
    for (let n = 1; n <= document.numPages; n += 1) {
      const page = await document.getPage(n);
      const { items } = await page.getTextContent();
      pages.push(
        items
          .map((item) => ('str' in item ? `${item.str}${item.hasEOL ? '\n' : ''}` : ''))
          .join('')
          .trim(),
      );
      page.cleanup();
    }
    const text = pages.filter((page) => page !== '').join('\n\n');
    if (text === '') throw new ExtractionError('the PDF has no text layer (a scan needs OCR first)');
    return text;
  } finally {
    await document.destroy();
  }
};

export const extractText = async (
  contentType: DocumentContentType,
  content: Uint8Array | string,
): Promise<string> => {
  switch (contentType) {
    case 'text/plain':
    case 'text/markdown':
      return textOf(content);
    case 'application/json':
      return fromJson(textOf(content));
    case 'text/html':
      return fromHtml(textOf(content));
    case 'application/pdf':
      if (typeof content === 'string') throw new ExtractionError('a PDF arrives as bytes, not text');
      return fromPdf(content);
  }
};
