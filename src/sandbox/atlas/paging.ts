// Atlas's list pages: `{links, results, totalCount}` driven by itemsPerPage, pageNum and includeCount.
import type { SandboxRequest } from '../contract.js';
import { AtlasError } from './http.js';
import { BASE } from './projects.js';

function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AtlasError(
      400,
      'INVALID_QUERY_PARAMETER',
      `Invalid query parameter ${name}: expected an integer from ${min} to ${max}.`,
      [name],
    );
  }
  return n;
}

/** `{links, results, totalCount}` for one page of `all`, as Atlas pages every list. */
export function paginate<T>(
  baseUrl: string,
  req: SandboxRequest,
  path: string,
  all: T[],
  view: (x: T) => unknown,
): Record<string, unknown> {
  const q = req.url.searchParams;
  const itemsPerPage = intParam(q, 'itemsPerPage', 100, 1, 500);
  const pageNum = intParam(q, 'pageNum', 1, 1, 1_000_000);
  const includeCount = q.get('includeCount') !== 'false';
  const page = all.slice((pageNum - 1) * itemsPerPage, pageNum * itemsPerPage);
  const link = (n: number, rel: string) => ({
    href: `${baseUrl}${BASE}${path}?pageNum=${n}&itemsPerPage=${itemsPerPage}`,
    rel,
  });
  const links = [link(pageNum, 'self')];
  if (pageNum > 1) links.push(link(pageNum - 1, 'previous'));
  if (pageNum * itemsPerPage < all.length) links.push(link(pageNum + 1, 'next'));
  return { links, results: page.map(view), ...(includeCount ? { totalCount: all.length } : {}) };
}
