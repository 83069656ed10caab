/** Strong ETag of a versioned resource: the same for every encoding of it. */
export const versionEtag = (version: number): string => `"v${version}"`;

/**
 * The versions an `If-Match` header accepts: undefined when absent or `*` (any current
 * version), else the versions of the ETags we recognise — possibly none, which fails.
 */
export const ifMatchVersions = (header: string | undefined): number[] | undefined => {
  if (header === undefined || header.trim() === '*') return undefined;
  const versions: number[] = [];
  for (const tag of header.split(',')) {
    const match = /^"v(\d{1,9})"$/.exec(tag.trim());
    if (match) versions.push(Number(match[1]));
  }
  return versions;
};
