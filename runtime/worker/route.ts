/**
 * How a request is named in log lines and heartbeats: its method and its
 * URL's path, never the query string, which may hold secrets.
 *
 * @module
 */

/**
 * The path of a URL, without its query string.
 *
 * @param url An absolute URL.
 * @returns The path, or `?` when the URL does not parse.
 * @example
 * ```ts
 * pathOf("http://x/report?token=secret"); // "/report"
 * ```
 */
export function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return "?";
  }
}

/**
 * A request as a log line names it.
 *
 * @param request The request.
 * @returns E.g. `GET /report`.
 * @example
 * ```ts
 * routeOf(new Request("http://x/report?token=secret")); // "GET /report"
 * ```
 */
export function routeOf(request: Request): string {
  return `${request.method} ${pathOf(request.url)}`;
}
