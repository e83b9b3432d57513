/**
 * Normalises the path of a request to an HTTP trigger before it is routed and handed to a
 * function, so that every spelling of a path reaches the function as one: `//` collapses, `.` and
 * `..` segments are resolved (also when written `%2e`), escapes of unreserved characters are
 * decoded and the others upper-cased. `%2F` stays encoded: a slash inside a segment is data, not
 * a separator. A function that allows or refuses by path (`/admin`) cannot be walked around with
 * `/./admin`, `//admin` or `/%61dmin`, and no path climbs above the root.
 */

/** The path as the function sees it, or why the request is refused. */
type NormalizedPath = { path: string } | { error: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

export function normalizeTriggerPath(rawPath: string): NormalizedPath {
  const segments: string[] = [];
  const parts = rawPath.split('/');
  for (let i = 1; i < parts.length; i++) {
    const segment = normalizeSegment(parts[i]!);
    if (segment === undefined)
      return { error: `the path has a malformed percent-escape; write % as %25 (path: ${clip(rawPath)})` };
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0)
        return { error: `the path climbs above the root with '..' (path: ${clip(rawPath)})` };
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  // A trailing slash (also after a resolved `.` or `..`) is kept: `/dir/` and `/dir` may differ.
  const last = normalizeSegment(parts[parts.length - 1] ?? '');
  const trailing = segments.length > 0 && (last === '' || last === '.' || last === '..');
  return { path: `/${segments.join('/')}${trailing ? '/' : ''}` };
}

/** Decodes escapes of unreserved characters, upper-cases the rest; undefined when malformed. */
function normalizeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = segment.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
