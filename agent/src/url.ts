/**
 * Text as it may be printed: in every URL in it, `user:password@` becomes `***@`, so an error or a status
 * line never shows credentials someone put in a URL (Node's own errors quote the URL they were given).
 * Works on text that does not parse as a URL too (that is when it is echoed).
 */
export function redactUrl(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/gi, '$1***@')
}
