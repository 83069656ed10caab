import { describe, expect, it } from 'vitest';
import { type Chunk, chunkText, defaultChunking, estimateTokens } from '#domain/chunking.ts';

/** "Sentence number 3 is here." is six estimated tokens. */
const sentences = (count: number) => Array.from({ length: count }, (_, i) => `Sentence number ${i} is here.`);

const expectWellFormed = (chunks: readonly Chunk[], sizeTokens: number) => {
  chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.text).toBe(chunk.text.trim());
    expect(chunk.text).not.toBe('');
    expect(chunk.tokens).toBe(estimateTokens(chunk.text));
    expect(chunk.tokens).toBeLessThanOrEqual(sizeTokens);
  });
};

describe('estimateTokens', () => {
  it('counts runs of letters or digits and each other non-space character', () => {
    expect(estimateTokens('Hello, world!')).toBe(4);
    expect(estimateTokens("don't stop")).toBe(4);
    expect(estimateTokens('naïve café 42')).toBe(3);
    expect(estimateTokens('東京タワー')).toBe(1);
    expect(estimateTokens('```')).toBe(3);
  });

  it('counts nothing in empty or whitespace-only text', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens(' \n\t  ')).toBe(0);
  });
});

describe('chunkText', () => {
  it('defaults to 400 tokens with 50 of overlap', () => {
    expect(defaultChunking).toEqual({ sizeTokens: 400, overlapTokens: 50 });
    const chunks = chunkText(sentences(300).join(' '));
    expect(chunks.length).toBeGreaterThan(1);
    expectWellFormed(chunks, 400);
  });

  it('starts a chunk at every heading and labels it with the heading path', () => {
    const doc = [
      'Preface text.',
      '# Install',
      'Get it.',
      '## Linux ##',
      'apt install it',
      '## macOS',
      'brew install it',
      '### Apple silicon',
      'Rosetta not needed.',
      '# Usage',
      'Run it.',
    ].join('\n\n');
    const chunks = chunkText(doc);
    expect(chunks.map((chunk) => [chunk.heading, chunk.text])).toEqual([
      [undefined, 'Preface text.'],
      ['Install', '# Install\n\nGet it.'],
      ['Install > Linux', '## Linux ##\n\napt install it'],
      ['Install > macOS', '## macOS\n\nbrew install it'],
      ['Install > macOS > Apple silicon', '### Apple silicon\n\nRosetta not needed.'],
      ['Usage', '# Usage\n\nRun it.'],
    ]);
    expect('heading' in chunks[0]!).toBe(false);
    expect(chunkText('# Only a title').map((chunk) => chunk.text)).toEqual(['# Only a title']);
    expect(
      chunkText('#hashtag is not a heading\n\n####### nor is this').map((chunk) => chunk.heading),
    ).toEqual([undefined]);
  });

  // Seven paragraphs of five tokens each: three fit in 16.
  const paragraphs = Array.from({ length: 7 }, (_, i) => `Paragraph ${i} has five.`);
  const packed = (overlapTokens: number) =>
    chunkText(paragraphs.join('\n\n'), { sizeTokens: 16, overlapTokens });
  /** Paragraphs [from, to) of the seven, as a chunk holds them. */
  const span = (from: number, to: number) => paragraphs.slice(from, to).join('\n\n');

  it('packs whole paragraphs up to the size', () => {
    const chunks = packed(0);
    expect(chunks.map((chunk) => chunk.text)).toEqual([span(0, 3), span(3, 6), span(6, 7)]);
    expect(chunks.map((chunk) => chunk.tokens)).toEqual([15, 15, 5]);
  });

  it('repeats the last paragraph of a packed chunk when it fits the overlap', () => {
    expect(packed(5).map((chunk) => chunk.text)).toEqual([span(0, 3), span(2, 5), span(4, 7)]);
  });

  it('splits an oversized paragraph at sentence ends, each chunk repeating the last sentence before it', () => {
    const paragraph = sentences(20);
    const chunks = chunkText(paragraph.join(' '), { sizeTokens: 32, overlapTokens: 8 });
    expect(chunks.length).toBeGreaterThan(3);
    expectWellFormed(chunks, 32);
    expect(chunks[0]!.text).toBe(paragraph.slice(0, 5).join(' '));
    for (const [i, chunk] of chunks.entries()) {
      expect(chunk.text).toMatch(/^Sentence number \d+ is here\..*\.$/s);
      if (i === 0) continue;
      const previousLastSentence = chunks[i - 1]!.text.split(/(?<=\.) /).at(-1)!;
      expect(chunk.text.startsWith(`${previousLastSentence} `)).toBe(true);
    }
    expect(chunks.at(-1)!.text.endsWith(paragraph.at(-1)!)).toBe(true);
  });

  it('hard-splits a giant sentence at words, every chunk within size plus overlap', () => {
    const words = Array.from({ length: 1000 }, (_, i) => `w${i}`);
    const chunks = chunkText(words.join(' '), { sizeTokens: 50, overlapTokens: 10 });
    expect(chunks.length).toBeGreaterThan(20);
    for (const chunk of chunks) expect(chunk.tokens).toBeLessThanOrEqual(50 + 10);
    expect(chunks[0]!.text).toBe(words.slice(0, 50).join(' '));
    for (let i = 1; i < chunks.length; i++) {
      const previousTail = chunks[i - 1]!.text.split(' ').slice(-10).join(' ');
      expect(chunks[i]!.text.startsWith(`${previousTail} `)).toBe(true);
    }
    expect(chunks.at(-1)!.text.endsWith('w999')).toBe(true);
  });

  it('hard-splits a word with no spaces at token boundaries', () => {
    const glued = 'ab-'.repeat(40);
    const chunks = chunkText(glued, { sizeTokens: 16, overlapTokens: 4 });
    expect(chunks.length).toBeGreaterThan(1);
    expectWellFormed(chunks, 16 + 4);
    for (const chunk of chunks) expect(glued.includes(chunk.text)).toBe(true);
    // Dropping each chunk's four-token overlap gives back the word.
    const withoutOverlaps = chunks.map((chunk, i) =>
      i === 0 ? chunk.text : chunk.text.replace(/^(?:ab|-)(?:ab|-)(?:ab|-)(?:ab|-)/, ''),
    );
    expect(withoutOverlaps.join('')).toBe(glued);
  });

  it('keeps a fenced code block whole and ignores # lines inside it', () => {
    const fence = '```sh\n# not a heading\necho hi\n\n# still code\n```';
    const doc = `# Setup\n\nIntro paragraph here.\n\n${fence}\n\nAfter the fence.`;
    expect(chunkText(doc)).toEqual([{ index: 0, text: doc, tokens: estimateTokens(doc), heading: 'Setup' }]);

    // The fence is 16 tokens: it does not fit after the intro, so it moves to a chunk of its own, whole.
    const chunks = chunkText(doc, { sizeTokens: 16, overlapTokens: 0 });
    expect(chunks.map((chunk) => chunk.text)).toEqual([
      '# Setup\n\nIntro paragraph here.',
      fence,
      'After the fence.',
    ]);
    expect(chunks.every((chunk) => chunk.heading === 'Setup')).toBe(true);
  });

  it('treats CRLF line endings like LF', () => {
    const doc = '# One\n\nFirst paragraph.\n\n## Two\n\n```\n# code\n```\n\nLast line.';
    const crlf = chunkText(doc.replaceAll('\n', '\r\n'));
    expect(crlf).toEqual(chunkText(doc));
    expect(crlf.map((chunk) => chunk.heading)).toEqual(['One', 'One > Two']);
    expect(crlf.some((chunk) => chunk.text.includes('\r'))).toBe(false);
  });

  it('returns no chunks for empty or whitespace-only input', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText('  \r\n\n\t \n ')).toEqual([]);
  });

  it('refuses sizes and overlaps out of range with a RangeError', () => {
    for (const settings of [
      { sizeTokens: 15, overlapTokens: 0 },
      { sizeTokens: 8193, overlapTokens: 0 },
      { sizeTokens: 100.5, overlapTokens: 0 },
      { sizeTokens: Number.NaN, overlapTokens: 0 },
      { sizeTokens: 100, overlapTokens: -1 },
      { sizeTokens: 100, overlapTokens: 51 },
      { sizeTokens: 100, overlapTokens: 1.5 },
    ]) {
      expect(() => chunkText('text', settings)).toThrow(RangeError);
    }
    expect(() => chunkText('text', { sizeTokens: 15, overlapTokens: 0 })).toThrow(/sizeTokens/);
    expect(() => chunkText('text', { sizeTokens: 100, overlapTokens: 51 })).toThrow(/overlapTokens/);
    expect(chunkText('text', { sizeTokens: 16, overlapTokens: 8 })).toHaveLength(1);
    expect(chunkText('text', { sizeTokens: 8192, overlapTokens: 4096 })).toHaveLength(1);
  });

  it('loses no text: every word lands in a chunk, chunks following the input in order', () => {
    let next = 0;
    const word = () => `w${next++}`;
    const words = (count: number) => Array.from({ length: count }, word).join(' ');
    const doc = [
      `# Title ${word()}`,
      Array.from({ length: 5 }, () => `${words(3)}.`).join(' '),
      `## Sub ${word()}`,
      Array.from({ length: 30 }, () => `${words(4)}.`).join(' '),
      `\`\`\`\n${words(5)}\n# ${words(2)}\n\`\`\``,
      words(200),
      ...Array.from({ length: 10 }, () => words(3)),
      `### Deeper ${word()}`,
      `${words(2)}!`,
    ].join('\n\n');
    const settings = { sizeTokens: 24, overlapTokens: 6 };
    const chunks = chunkText(doc, settings);
    expectWellFormed(chunks, settings.sizeTokens);
    expect(chunkText(doc, settings)).toEqual(chunks);

    for (const inputWord of doc.split(/\s+/)) {
      expect(chunks.some((chunk) => chunk.text.includes(inputWord))).toBe(true);
    }
    // Numbered words are unique, so each chunk must hold a run of them that starts no later than
    // right after the previous chunk's run ends.
    const ids = chunks.map((chunk) =>
      Array.from(chunk.text.matchAll(/w(\d+)/g), (match) => Number(match[1])),
    );
    let covered = -1;
    for (const run of ids) {
      expect(run.length).toBeGreaterThan(0);
      run.forEach((id, i) => {
        if (i > 0) expect(id).toBe(run[i - 1]! + 1);
      });
      expect(run[0]!).toBeLessThanOrEqual(covered + 1);
      covered = Math.max(covered, run.at(-1)!);
    }
    expect(covered).toBe(next - 1);
  });
});
