/**
 * Strong ETag of a versioned resource: the same for every encoding of it. A variant (a
 * representation with more in it, e.g. `?include=steps`) gets its own tag of the same version.
 */
export const versionEtag = (version: number, variant?: string): string =>
  variant ? `"v${version}-${variant}"` : `"v${version}"`;

/**
 * The versions an `If-Match` header accepts: undefined when absent or `*` (any current
 * version), else the versions of the ETags we recognise — possibly none, which fails.
 */
export const ifMatchVersions = (header: string | undefined): number[] | undefined => {
  if (header === undefined || header.trim() === '*') return undefined;
  const versions: number[] = [];
  for (const tag of header.split(',')) {
    const match = /^"v(\d{1,9})(?:-[a-z]{1,20})?"$/.exec(tag.trim());
    if (match) versions.push(Number(match[1]));
  }
  return versions;
};
