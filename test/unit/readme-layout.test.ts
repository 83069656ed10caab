/**
 * The README's project layout and links cannot go stale silently: every entry and folder its
 * layout names exists, every top-level folder of the repository is named there, the README
 * stays short, and every docs/ link in it resolves.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The fenced block under "## Project layout". */
const layoutBlock = (): string => {
  const section = /^## Project layout\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Project layout" section');
  const block = /^```[^\n]*\n([\s\S]*?)^```/m.exec(section)?.[1];
  if (!block) throw new Error('the layout section has no fenced block');
  return block;
};

interface Entry {
  /** A top-level name: `bin/` for a folder, `package.json` for a file. */
  name: string;
  /** Its description, continuation lines included. */
  text: string;
}

/** Lines starting at column 0 name an entry; indented lines continue the one above. */
const layoutEntries = (): Entry[] => {
  const entries: Entry[] = [];
  for (const line of layoutBlock().split('\n')) {
    if (!line.trim()) continue;
    if (/^\s/.test(line)) {
      const last = entries.at(-1);
      if (!last) throw new Error(`layout line without an entry: ${line}`);
      last.text += ` ${line.trim()}`;
      continue;
    }
    const [, name, text = ''] = /^(\S+)\s*(.*)$/.exec(line)!;
    entries.push({ name: name!, text });
  }
  return entries;
};

/** Folder and file names mentioned in a description, like `domain/`, `adapters/` or `bin/app.ts`. */
const pathsIn = (text: string): string[] =>
  [...text.matchAll(/(?<![\w./-])((?:[\w.-]+\/)+[\w.-]*|[\w-]+\.(?:ts|json|ya?ml|md|sql|js))(?![\w/-])/g)]
    .map((match) => match[1]!)
    .filter((path) => !/^\.+\/?$/.test(path));

/** The folders a name mentioned under `parent/` may refer to: from the root, or nested anywhere below `parent`. */
const resolves = (parent: string, mentioned: string): boolean => {
  const clean = mentioned.replace(/\/$/, '');
  if (existsSync(join(root, clean))) return true;
  const search = (dir: string, depth: number): boolean => {
    if (existsSync(join(dir, clean))) return true;
    if (depth === 0) return false;
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules')
      .some((entry) => search(join(dir, entry.name), depth - 1));
  };
  return statSync(join(root, parent)).isDirectory() && search(join(root, parent), 3);
};

/** Top-level folders the repository tracks (git), or, outside a git checkout, that are not ignored. */
const trackedTopFolders = (): string[] => {
  try {
    const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
    return [...new Set(files.filter((file) => file.includes('/')).map((file) => file.split('/')[0]!))];
  } catch {
    const ignored = readFileSync(join(root, '.gitignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim().replace(/\/$/, ''))
      .filter(Boolean);
    return readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== '.git' && !ignored.includes(entry.name))
      .map((entry) => entry.name);
  }
};

describe('README.md', () => {
  it('is at most 200 lines', () => {
    expect(readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0)).toBeLessThanOrEqual(200);
  });

  it('names only top-level entries that exist, folders as folders', () => {
    const entries = layoutEntries();
    expect(entries.length).toBeGreaterThan(0);
    for (const { name } of entries) {
      const path = join(root, name);
      expect(existsSync(path), `${name} named in the layout does not exist`).toBe(true);
      expect(statSync(path).isDirectory(), `${name}: a trailing / means a folder`).toBe(name.endsWith('/'));
    }
  });

  it('names only folders and files that exist', () => {
    for (const { name, text } of layoutEntries()) {
      const parent = name.endsWith('/') ? name : '.';
      for (const mentioned of pathsIn(text)) {
        expect(resolves(parent, mentioned), `${mentioned} (under ${name}) does not exist`).toBe(true);
      }
    }
  });

  it('names every top-level folder of the repository', () => {
    const named = new Set(layoutEntries().map(({ name }) => name.replace(/\/$/, '')));
    const folders = trackedTopFolders();
    expect(folders.length).toBeGreaterThan(0);
    for (const folder of folders) {
      expect(named.has(folder), `top-level folder ${folder}/ is missing from the README's layout`).toBe(true);
    }
  });

  it('links only docs that exist', () => {
    const links = [
      ...[...readme.matchAll(/\]\((docs\/[^)#\s]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!),
      ...[...readme.matchAll(/(?<![\w/.-])(docs\/[\w./-]*\w)/g)].map((match) => match[1]!),
    ];
    expect(links).toContain('docs/api.md');
    for (const link of new Set(links)) {
      expect(existsSync(join(root, link)), `${link} linked from README.md does not exist`).toBe(true);
    }
  });
});
