/**
 * Splits documents into chunks for embedding, following their structure: markdown sections, then
 * paragraphs (fenced code kept whole), then sentences, then words, and only then single tokens.
 */

const tokenPattern = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

/**
 * Estimated tokens: runs of letters/digits plus every other non-space character. We have no tokenizer
 * library; this is a proxy for BPE tokens, within roughly a quarter for English prose (model tokenizers
 * split long words further, so the true count can be higher).
 */
export const estimateTokens = (text: string): number => text.match(tokenPattern)?.length ?? 0;

export interface ChunkingSettings {
  /** Most estimated tokens in a chunk, its overlap included. */
  readonly sizeTokens: number;
  /** Estimated tokens a chunk repeats from the end of the previous chunk of its section. */
  readonly overlapTokens: number;
}

/**
 * 400 estimated tokens stay under the 512-token input limit of the smallest embedding model we support
 * (Cohere Embed) even when the estimate is a quarter low; 50 tokens (~12 %) of overlap keep a sentence cut
 * at a boundary readable in both chunks.
 */
export const defaultChunking: ChunkingSettings = { sizeTokens: 400, overlapTokens: 50 };

export interface Chunk {
  readonly index: number;
  readonly text: string;
  readonly tokens: number;
  /** The markdown headings above the chunk, outermost first, joined with " > "; absent when none. */
  readonly heading?: string;
}

const minSizeTokens = 16;
const maxSizeTokens = 8192;

const validate = ({ sizeTokens, overlapTokens }: ChunkingSettings): void => {
  if (!Number.isInteger(sizeTokens) || sizeTokens < minSizeTokens || sizeTokens > maxSizeTokens) {
    throw new RangeError(
      `sizeTokens must be an integer from ${minSizeTokens} to ${maxSizeTokens}, got ${sizeTokens}`,
    );
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens > sizeTokens / 2) {
    throw new RangeError(
      `overlapTokens must be an integer from 0 to half of sizeTokens (${Math.floor(sizeTokens / 2)}), got ${overlapTokens}`,
    );
  }
};

interface Block {
  readonly text: string;
  readonly code: boolean;
}

interface Section {
  readonly heading: string | undefined;
  readonly blocks: readonly Block[];
}

const headingLine = /^(#{1,6})[ \t]+(.*)$/;
const fenceOpening = /^\s*```/;
const fenceClosing = /^\s*```\s*$/;

/** Sections start at ATX headings outside fenced code; their blocks are paragraphs and whole fences. */
const splitSections = (text: string): Section[] => {
  const sections: Section[] = [];
  const headingPath: { level: number; title: string }[] = [];
  let heading: string | undefined;
  let blocks: Block[] = [];
  let lines: string[] = [];
  let inFence = false;

  const endBlock = (code: boolean) => {
    const blockText = lines.join('\n').trim();
    if (blockText !== '') blocks.push({ text: blockText, code });
    lines = [];
  };
  const endSection = () => {
    endBlock(false);
    if (blocks.length > 0) sections.push({ heading, blocks });
    blocks = [];
  };

  for (const line of text.split('\n')) {
    if (inFence) {
      lines.push(line);
      if (fenceClosing.test(line)) {
        inFence = false;
        endBlock(true);
      }
      continue;
    }
    if (fenceOpening.test(line)) {
      endBlock(false);
      lines.push(line);
      inFence = true;
      continue;
    }
    const headingMatch = headingLine.exec(line);
    if (headingMatch) {
      endSection();
      const level = headingMatch[1]!.length;
      const title = headingMatch[2]!.replace(/[ \t]+#+[ \t]*$/, '').trim();
      while (headingPath.length > 0 && headingPath.at(-1)!.level >= level) headingPath.pop();
      headingPath.push({ level, title });
      heading =
        headingPath
          .map((entry) => entry.title)
          .filter((entryTitle) => entryTitle !== '')
          .join(' > ') || undefined;
      // The heading line opens its section's first block.
      lines.push(line);
      continue;
    }
    if (line.trim() === '') endBlock(false);
    else lines.push(line);
  }
  // An unclosed fence runs to the end of the document, as in CommonMark.
  endBlock(inFence);
  endSection();
  return sections;
};

/** How a piece was cut from its parent; each grain splits into the next finer one. */
type Grain = 'paragraph' | 'code' | 'sentence' | 'line' | 'word' | 'token';

interface Piece {
  readonly text: string;
  readonly tokens: number;
  /** The text that separated this piece from the one before it in the document. */
  readonly separator: string;
  readonly grain: Grain;
}

/** Splits at a pattern with one capturing group around the separator, keeping the separators. */
const splitAt = (piece: Piece, pattern: RegExp, grain: Grain): Piece[] => {
  const parts = piece.text.split(pattern);
  // No separator: the same text at a finer grain, without counting its tokens again.
  if (parts.length === 1) return [{ ...piece, grain }];
  const pieces: Piece[] = [];
  let separator = piece.separator;
  for (let i = 0; i < parts.length; i += 2) {
    const text = parts[i]!;
    if (text !== '') {
      pieces.push({ text, tokens: estimateTokens(text), separator, grain });
      separator = '';
    }
    separator += parts[i + 1] ?? '';
  }
  return pieces;
};

/** Within a word there is no whitespace, so its tokens cover it entirely. */
const splitIntoTokens = (piece: Piece): Piece[] =>
  Array.from(piece.text.matchAll(tokenPattern), (match, i) => ({
    text: match[0],
    tokens: 1,
    separator: i === 0 ? piece.separator : '',
    grain: 'token' as const,
  }));

const splitFiner = (piece: Piece): Piece[] => {
  switch (piece.grain) {
    case 'paragraph':
      return splitAt(piece, /(?<=[.!?])(\s+)/, 'sentence');
    case 'code':
      return splitAt(piece, /(\n+)/, 'line');
    case 'sentence':
    case 'line':
      return splitAt(piece, /(\s+)/, 'word');
    case 'word':
      return splitIntoTokens(piece);
    case 'token':
      // A single token always fits: sizeTokens is at least 16.
      return [piece];
  }
};

const sentenceOrBlockEnd = /(?<=[.!?])\s+|\n\s*\n/g;
const whitespace = /\s+/g;

/** Where segments start: just after each separator. */
const segmentStarts = (text: string, separator: RegExp): number[] => [
  0,
  ...Array.from(text.matchAll(separator), (match) => match.index + match[0].length),
];

/** The longest run of whole trailing segments within the token limit ('' when even the last is too big). */
const trailingSegments = (text: string, starts: readonly number[], limit: number): string => {
  let from = text.length;
  let taken = 0;
  for (let i = starts.length - 1; i >= 0; i--) {
    const tokens = estimateTokens(text.slice(starts[i], from));
    if (taken + tokens > limit) break;
    taken += tokens;
    from = starts[i]!;
  }
  return text.slice(from).trim();
};

/** The overlap: whole trailing sentences if they fit, else trailing words, else trailing tokens. */
const trailingText = (text: string, limit: number): string => {
  if (limit <= 0) return '';
  return (
    trailingSegments(text, segmentStarts(text, sentenceOrBlockEnd), limit) ||
    trailingSegments(text, segmentStarts(text, whitespace), limit) ||
    trailingSegments(
      text,
      Array.from(text.matchAll(tokenPattern), (match) => match.index),
      limit,
    )
  );
};

/**
 * Packs a section's blocks greedily; a piece that can never fit is split finer and its parts keep
 * filling the current chunk. The overlap counts against sizeTokens (so the default stays under the
 * model limit) and shrinks when the next piece would otherwise not fit whole.
 */
const packSection = (blocks: readonly Block[], { sizeTokens, overlapTokens }: ChunkingSettings): string[] => {
  const texts: string[] = [];
  // A stack, next piece last, so that split pieces go back in front without copying the rest.
  const pending: Piece[] = blocks
    .map((block) => ({
      text: block.text,
      tokens: estimateTokens(block.text),
      separator: '\n\n',
      grain: block.code ? ('code' as const) : ('paragraph' as const),
    }))
    .reverse();
  let parts: string[] = [];
  let used = 0;

  while (pending.length > 0) {
    const piece = pending.pop()!;
    if (used + piece.tokens <= sizeTokens) {
      if (parts.length > 0) parts.push(piece.separator);
      parts.push(piece.text);
      used += piece.tokens;
      continue;
    }
    if (piece.tokens > sizeTokens) {
      const finer = splitFiner(piece);
      for (let i = finer.length - 1; i >= 0; i--) pending.push(finer[i]!);
      continue;
    }
    // The piece fits a chunk of its own; parts is not empty here, or it would have fitted above.
    const previous = parts.join('').trim();
    texts.push(previous);
    const overlap = trailingText(previous, Math.min(overlapTokens, sizeTokens - piece.tokens));
    parts = overlap === '' ? [piece.text] : [overlap, piece.separator, piece.text];
    used = estimateTokens(overlap) + piece.tokens;
  }
  if (parts.length > 0) texts.push(parts.join('').trim());
  return texts;
};

export const chunkText = (text: string, settings: ChunkingSettings = defaultChunking): Chunk[] => {
  validate(settings);
  const chunks: Chunk[] = [];
  for (const section of splitSections(text.replace(/\r\n?/g, '\n'))) {
    for (const chunk of packSection(section.blocks, settings)) {
      chunks.push({
        index: chunks.length,
        text: chunk,
        tokens: estimateTokens(chunk),
        ...(section.heading === undefined ? {} : { heading: section.heading }),
      });
    }
  }
  return chunks;
};
