/**
 * The HTTP shapes LTI uses that the JSON API does not: HTML form posts (the login initiation and the
 * launch), cookies (the state binding) and bearer tokens (the tool session). Framework-free, so the
 * routes, the local platform and the tests share them.
 */

/** LTI login and launch bodies are a few KB (an id_token is the biggest part); more is refused. */
export const MAX_FORM_BYTES = 64 * 1024;

export type Params = Record<string, string | undefined>;

/**
 * The fields of an `application/x-www-form-urlencoded` body (the first value of a repeated name), or
 * of a query string. Anything else (JSON, multipart) yields no fields: LTI never sends it.
 */
export const parseForm = (body: string | Buffer | null | undefined, contentType?: string): Params => {
  if (body === null || body === undefined) return {};
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (Buffer.byteLength(text, 'utf8') > MAX_FORM_BYTES) return {};
  if (contentType !== undefined && !/^application\/x-www-form-urlencoded\b/i.test(contentType.trim())) return {};
  const params: Params = {};
  for (const [name, value] of new URLSearchParams(text)) if (!(name in params)) params[name] = value;
  return params;
};

/** A header by name, in any case; undefined when absent. */
export const headerOf = (headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === wanted && value !== undefined) return value;
  return undefined;
};

/** The cookies of a `Cookie` header, by name (the first of a repeated name). */
export const parseCookies = (cookieHeader: string | undefined): Record<string, string> => {
  const cookies: Record<string, string> = {};
  for (const part of (cookieHeader ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals <= 0) continue;
    const name = part.slice(0, equals).trim();
    const value = part.slice(equals + 1).trim().replace(/^"(.*)"$/, '$1');
    if (name !== '' && !(name in cookies)) cookies[name] = value;
  }
  return cookies;
};

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export const bearerToken = (headers: Record<string, string | undefined> | null | undefined): string | undefined => {
  const value = headerOf(headers, 'authorization')?.trim();
  const match = value === undefined ? null : /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(value);
  return match?.[1];
};

/** Text safe inside an HTML attribute or element. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/**
 * An HTML page that form-posts `fields` to `action` as soon as it loads: how OIDC's form_post response
 * mode and LTI's login initiation move a browser between sites. A <noscript> button covers a browser
 * without JavaScript.
 */
export const autoSubmitForm = (action: string, fields: Record<string, string>, title = 'Continuing…'): string => {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n    ');
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
  <form id="form" method="post" action="${escapeHtml(action)}" enctype="application/x-www-form-urlencoded">
    ${inputs}
    <noscript><button type="submit">Continue</button></noscript>
  </form>
  <script>document.getElementById('form').submit();</script>
</body>
</html>
`;
};
