/**
 * Bad input document: names the source (a file, or "vault document"), the field path inside it and what was
 * expected. Callers print `message` as is; no stack trace is ever shown to a user.
 */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  constructor(
    message: string,
    /** Where the document came from (a file name), when known. */
    readonly source?: string,
    /** JSON path of the offending field, e.g. `value[2].properties.scope`. */
    readonly path?: string,
  ) {
    super(source ? `${source}: ${message}` : message);
  }
}
